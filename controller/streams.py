"""JetStream streams and the controller's consumers: created idempotently. I/O: NATS.

- ``CORRAL_JOBS`` (``corral.job.>``, limits retention): signed jobs. Agents
  each own a durable consumer over their subjects; ``corral-any`` is one
  shared durable consumer that load-balances ``_any`` jobs.
- ``CORRAL_EVENTS`` (``corral.event.>``, work-queue retention): agent events;
  the ``corral-collector`` consumer is shared by every controller replica and
  an event leaves the stream once a controller acked it after its write.
- ``CORRAL_CLAIMS`` (a key-value bucket, stream ``KV_CORRAL_CLAIMS``): one key
  per ``_any`` job, created atomically by the agent that runs it
  (agent/claims.py); replicated like the streams, kept as long as a job's
  record, so no copy of a job, however late, finds its claim gone.
- ``CORRAL_OBJECTS`` (an object store, stream ``OBJ_CORRAL_OBJECTS``): deploy
  content uploaded with ``POST /object`` (controller/api/objects.py) and read
  by agents for ``file.deploy`` (agent/objects.py); replicated like the
  streams, kept until deleted.
"""

from __future__ import annotations

import dataclasses

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from common import subjects
from common.config import DEFAULT_MAX_DELIVERIES

ACK_WAIT = 30.0
# One more than an agent's default, so the extra delivery reaches an agent
# that ends the job `failed` with the reason instead of leaving it silent.
ANY_MAX_DELIVER = DEFAULT_MAX_DELIVERIES + 1
# One durable consumer per agent lives on CORRAL_JOBS. nats-server 2.15 caps a
# stream at 1,000 consumers unless the stream sets its own limit (and treats
# -1 as "use the default"), which would stop the 1,000th agent from starting.
MAX_JOB_CONSUMERS = 100_000
# JetStream stores a message id once within this window (Nats-Msg-Id = job id);
# beyond it the claims and the agents' journals keep a republish from running.
DUPLICATE_WINDOW = 120.0
JOBS_MAX_AGE = 2 * 24 * 3600.0  # well past the longest job timeout (24 h)
CLAIMS_STREAM = f"KV_{subjects.CLAIMS_BUCKET}"
CLAIM_MARGIN = 3600.0  # past the record's expiry (retention + 60 s)


def claims_max_age(retention: float, max_timeout: float) -> float:
    """How long a claim lives: past the job's record and its longest deadline, so an
    expired copy of a finished `_any` job still finds its claim and adds nothing."""
    return max(retention, max_timeout, JOBS_MAX_AGE) + CLAIM_MARGIN


DEFAULT_CLAIMS_MAX_AGE = claims_max_age(7 * 24 * 3600.0, 24 * 3600.0)


def any_consumer_config() -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=subjects.ANY_CONSUMER,
        filter_subject=subjects.JOB_ANY,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ACK_WAIT,
        max_deliver=ANY_MAX_DELIVER,
        max_ack_pending=10_000,
        # Every agent keeps one pull request waiting here: room for as many
        # agents as the stream allows consumers. An existing consumer keeps
        # its own (the server refuses to change it: ensure_streams).
        max_waiting=MAX_JOB_CONSUMERS,
    )


async def ensure_streams(
    js: JetStreamContext,
    replicas: int = 1,
    *,
    duplicate_window: float = DUPLICATE_WINDOW,
    claims_age: float = DEFAULT_CLAIMS_MAX_AGE,
) -> None:
    """Create or update both streams, the shared consumers, the claims and objects buckets."""
    configs = [
        StreamConfig(
            name=subjects.JOBS_STREAM,
            subjects=[subjects.JOBS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=JOBS_MAX_AGE,
            duplicate_window=duplicate_window,
            num_replicas=replicas,
            max_consumers=MAX_JOB_CONSUMERS,
        ),
        StreamConfig(
            name=subjects.EVENTS_STREAM,
            subjects=[subjects.EVENTS_SUBJECTS],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            max_age=7 * 24 * 3600.0,
            duplicate_window=duplicate_window,
            num_replicas=replicas,
        ),
    ]
    for config in configs:
        try:
            await js.stream_info(config.name or "")
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)
    await js.add_consumer(subjects.JOBS_STREAM, await _any_consumer_update(js))
    await js.add_consumer(
        subjects.EVENTS_STREAM,
        ConsumerConfig(
            durable_name=subjects.COLLECTOR_CONSUMER,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ACK_WAIT,
            max_ack_pending=20_000,
            max_waiting=512,
        ),
    )
    await ensure_claims(js, replicas, claims_age)
    await ensure_objects(js, replicas)


async def ensure_claims(js: JetStreamContext, replicas: int, max_age: float) -> None:
    """The `_any` claims bucket: one revision per key, reads from the stream leader.

    Not ``direct``: a direct get may be answered by a replica that has not seen
    the claim yet, and the agent reads a claim only to learn whether it is its own.
    """
    try:
        info = await js.stream_info(CLAIMS_STREAM)
    except NotFoundError:
        config = KeyValueConfig(
            bucket=subjects.CLAIMS_BUCKET,
            history=1,
            ttl=max_age,
            storage=StorageType.FILE,
            replicas=replicas,
            direct=False,
        )
        await js.create_key_value(config)
        return
    await js.update_stream(dataclasses.replace(info.config, max_age=max_age, num_replicas=replicas))


async def ensure_objects(js: JetStreamContext, replicas: int) -> None:
    """The object store of deploy content; an existing one gets the replica count."""
    try:
        info = await js.stream_info(subjects.OBJECTS_STREAM)
    except NotFoundError:
        config = ObjectStoreConfig(
            description="corral deploy content (file.deploy)",
            storage=StorageType.FILE,
            replicas=replicas,
        )
        await js.create_object_store(subjects.OBJECTS_BUCKET, config)
        return
    await js.update_stream(dataclasses.replace(info.config, num_replicas=replicas))


async def _any_consumer_update(js: JetStreamContext) -> ConsumerConfig:
    """``corral-any``'s config, keeping ``max_waiting`` if it exists: a consumer
    created by an earlier version (10,000) cannot have it changed (err 10012)."""
    config = any_consumer_config()
    try:
        info = await js.consumer_info(subjects.JOBS_STREAM, subjects.ANY_CONSUMER)
    except NotFoundError:
        return config
    return dataclasses.replace(config, max_waiting=info.config.max_waiting)
