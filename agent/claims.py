"""The claim of an ``_any`` job: which one agent runs it. I/O: NATS (JetStream KV).

Every agent pulls ``_any`` jobs from one shared consumer, and JetStream
hands a message to one puller at a time, but not once per job: a message
not acked within the ack wait (an agent paused, a broker restarted before
it stored an ack) goes to another agent, and a copy stored again (a
republish after the duplicate window, a replay from outside) is a new
message. So before an agent runs an ``_any`` job, or reports it expired,
it creates the key ``<job id>`` in the ``CORRAL_CLAIMS`` bucket with its
hostname as the value. The create is atomic in the stream (expected last
subject sequence 0): of any number of agents trying, one succeeds.

- created now, or already holding this agent's hostname (a redelivery to
  it, perhaps after a restart): :data:`WON`, and the journal decides as for
  any job;
- holding another hostname, or deleted (only someone tampering deletes a
  claim): :data:`LOST`, the job is another agent's;
- the store did not answer, again and again for :data:`CLAIM_WITHIN`
  seconds (past a leader election of the bucket's stream: a create that
  landed unanswered reads back as this agent's own claim):
  :class:`ClaimUnavailable`; the job must not run, and its message stays
  unacked so that it comes back.

The bucket is the controller's (controller/streams.py); agents only bind.
"""

from __future__ import annotations

import asyncio
import time

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from common import subjects

WON = True
LOST = False
CLAIM_WITHIN = 15.0  # past a leader election, well short of the shared consumer's ack wait
RETRY_DELAY_MAX = 1.0


class ClaimUnavailable(Exception):
    """The claims bucket did not answer; the job's outcome is not decided."""


class Claims:
    """One agent's claims: ``claim(job_id)`` is :data:`WON` or :data:`LOST`."""

    def __init__(self, js: JetStreamContext, hostname: str, within: float = CLAIM_WITHIN) -> None:
        """``within``: how long to keep asking a bucket that does not answer."""
        self._js = js
        self.within = within
        self._mine = hostname.encode()
        self._bucket: KeyValue | None = None

    async def claim(self, job_id: str) -> bool:
        give_up = time.monotonic() + self.within
        delay = 0.1
        while True:
            try:
                return await self._claim_once(job_id)
            except ClaimUnavailable:
                if time.monotonic() + delay >= give_up:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_DELAY_MAX)

    async def _claim_once(self, job_id: str) -> bool:
        try:
            bucket = await self._bound()
            try:
                # update(last=0), not create(): create() would overwrite a deleted claim.
                await bucket.update(job_id, self._mine, last=0)
                return WON
            except nats.js.errors.KeyWrongLastSequenceError:
                return await self._holder_is_me(bucket, job_id)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise ClaimUnavailable(str(exc) or type(exc).__name__) from exc

    async def _holder_is_me(self, bucket: KeyValue, job_id: str) -> bool:
        try:
            entry = await bucket.get(job_id)
        except nats.js.errors.KeyNotFoundError:
            return LOST  # deleted or purged: never run on a claim someone removed
        return WON if entry.value == self._mine else LOST

    async def _bound(self) -> KeyValue:
        if self._bucket is None:
            self._bucket = await self._js.key_value(subjects.CLAIMS_BUCKET)
        return self._bucket
