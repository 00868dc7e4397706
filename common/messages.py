"""Wire messages between controller and agents: msgspec Structs. No I/O.

Everything on NATS is MessagePack. Structs are frozen and keyword-only; new
fields get defaults and unknown fields are ignored on decode, so an old agent
can read a newer controller's message and the other way round.
Timestamps on the wire are float seconds since the epoch (UTC); the API
renders them as RFC 3339.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

# Seconds since the epoch, up to the year 2100. NaN, infinities and absurd
# values from a broken or hostile sender fail decoding as malformed, so they
# can never reach a record (where one would make every read of it fail).
Timestamp = Annotated[float, msgspec.Meta(ge=0, le=4_102_444_800)]
# Seconds something took or waits: finite, non-negative, at most a year.
Seconds = Annotated[float, msgspec.Meta(ge=0, le=366 * 24 * 3600)]


class Operation(msgspec.Struct, frozen=True, kw_only=True):
    """What to do: an operation type such as ``node.hostname.get`` and its params."""

    type: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class JobSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The part of a job the controller signs and an agent verifies."""

    job_id: str
    operation: Operation
    target: str
    issued_at: float
    deadline: float
    timeout: float
    # Compute what the operation would do and touch nothing. An agent older
    # than this field would run the job for real: the controller sends a dry
    # run only to agents whose facts say they know it (Facts.dry_run).
    dry_run: bool = False
    # A rolling rollout's copy for one agent (controller/jobs/rollout.py): the
    # batch is sent on each of its agents' host subjects, ``target`` staying
    # the label or ``_all``, and only the agent named here may run this copy.
    # An agent older than this field refuses it (it arrived off its target's
    # subject): never a run where it was not sent.
    host: str = ""


class SignedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job as published: the encoded spec, and an Ed25519 signature over it."""

    payload: bytes
    signature: bytes = b""
    key_id: str = ""


class EventBase(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    """Fields every job event carries.

    ``event_id`` is deterministic (:func:`event_id`), so an event re-sent after
    a crash has the same id and is counted once for the whole life of the job.
    """

    event_id: str
    job_id: str
    hostname: str
    timestamp: Timestamp
    attempt: int = 1
    message: str = ""


class Submitted(EventBase, frozen=True, kw_only=True, tag="submitted"):
    """Written by the controller when it accepts a job."""


class Acknowledged(EventBase, frozen=True, kw_only=True, tag="acknowledged"):
    """The agent received and verified the job."""


class Started(EventBase, frozen=True, kw_only=True, tag="started"):
    """The agent started the operation's handler."""


class Completed(EventBase, frozen=True, kw_only=True, tag="completed"):
    result: Any = None
    changed: bool = False
    duration: Seconds = 0.0


class Failed(EventBase, frozen=True, kw_only=True, tag="failed"):
    error: str = ""
    duration: Seconds = 0.0


class Skipped(EventBase, frozen=True, kw_only=True, tag="skipped"):
    """The host lacks what the operation needs (a tool, a running systemd); ``error``
    says what. Neither completed nor failed: the job leaves the agent out."""

    error: str = ""
    duration: Seconds = 0.0


class BatchStarted(EventBase, frozen=True, kw_only=True, tag="batch_started"):
    """Written by the controller when a rollout sends a batch; ``attempt`` is its
    number (1-based), ``message`` names its agents."""


class Retried(EventBase, frozen=True, kw_only=True, tag="retried"):
    """The job was delivered again (``attempt`` > 1) after a crash or timeout."""


class Cancelled(EventBase, frozen=True, kw_only=True, tag="cancelled"):
    error: str = ""


class TimedOut(EventBase, frozen=True, kw_only=True, tag="timeout"):
    """Written by the controller for an expected agent silent at the deadline."""

    error: str = ""


Event = (
    Submitted
    | Acknowledged
    | Started
    | Completed
    | Failed
    | Skipped
    | Retried
    | Cancelled
    | TimedOut
    | BatchStarted
)
TERMINAL_EVENTS = ("completed", "failed", "skipped", "cancelled", "timeout")


def event_id(job_id: str, hostname: str, attempt: int, kind: str) -> str:
    """The stable identity of an event: one per job, agent, attempt and kind."""
    return f"{job_id}:{hostname}:{attempt}:{kind}"


def event_kind(event: Event) -> str:
    return type(event).__struct_config__.tag  # type: ignore[return-value]


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What an agent says about its host in every heartbeat."""

    os: str = ""
    os_release: str = ""
    kernel: str = ""
    arch: str = ""
    cpu_count: int = 0
    memory_total: int = 0
    boot_time: Timestamp = 0.0
    agent_version: str = ""
    python: str = ""
    operations: list[str] = msgspec.field(default_factory=list)
    max_concurrency: int = 0
    dry_run: bool = False  # it honours JobSpec.dry_run


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True):
    """Sent on core NATS every ``interval`` seconds; ``state`` is ``offline`` on shutdown."""

    hostname: str
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    facts: Facts = msgspec.field(default_factory=Facts)
    sent_at: Timestamp
    interval: Seconds
    state: str = "online"
    running: int = 0
    # Jobs and cancel requests this agent refused since it started, by reason.
    refusals: dict[str, int] = msgspec.field(default_factory=dict)
    # Whether the agent believes it is drained: a controller that knows
    # otherwise tells it again (controller/registry.py).
    drained: bool = False


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    requested_at: float


class DrainRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Signed, on ``corral.control.drain.<host>``: whether the agent takes new work.

    A drained agent finishes what it runs, takes no ``_any`` job and answers
    ``skipped`` to broadcast and label jobs (docs/operations.md, "Drain").
    """

    hostname: str
    drained: bool
    requested_at: float


class JobsChanged(msgspec.Struct, frozen=True, kw_only=True):
    """Jobs whose record just changed, each with its status after the change, and
    their operation types where the writer had them at hand (watchers look up the rest).
    ``origin`` names the writer's process, whose own watchers were told directly."""

    jobs: dict[str, str]
    operations: dict[str, str] = {}
    origin: str = ""


class ConsumerRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An agent asks a controller for its own consumer (``corral.control.consumer.<host>``).

    The hostname is the subject's, never the body's: the agent's NATS user may
    publish only on its own. The filter is derived from it and ``labels``;
    the rest are the agent's settings, bounded. ``floor`` (0: none) is where
    to start if the consumer must be created on the stream ``stream_id``
    (agent/floor.py).
    """

    labels: dict[str, str] = msgspec.field(default_factory=dict)
    slots: Annotated[int, msgspec.Meta(ge=1, le=65_536)] = 8
    max_deliveries: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 4
    ack_wait: Annotated[float, msgspec.Meta(ge=1, le=3_600)] = 30.0
    stream_id: str = ""
    floor: Annotated[int, msgspec.Meta(ge=0)] = 0


class ConsumerReply(msgspec.Struct, frozen=True, kw_only=True):
    """The controller's answer: the consumer as it is now, or ``error``.

    ``start``: the stream sequence it was just created at (0: at the stream's
    end, or it existed); ``ack_floor`` and ``delivered`` as the broker reports
    them; ``stream_id``: the jobs stream it lives on (its creation time).
    """

    consumer: str = ""
    created: bool = False
    start: int = 0
    stream_id: str = ""
    ack_floor: int = 0
    delivered: int = 0
    error: str = ""


# One encoder and one decoder per type, reused: building them per message is slow.
ENCODER = msgspec.msgpack.Encoder()
SIGNED_JOB_DECODER = msgspec.msgpack.Decoder(SignedJob)
JOB_SPEC_DECODER = msgspec.msgpack.Decoder(JobSpec)
EVENT_DECODER = msgspec.msgpack.Decoder(Event)
# What one message on an agent's event subject holds: one event, or several of
# one job sent together (agent/events.py: a quick job's progress rides with
# its terminal event).
EVENT_MESSAGE_DECODER = msgspec.msgpack.Decoder(list[Event] | Event)
HEARTBEAT_DECODER = msgspec.msgpack.Decoder(Heartbeat)
CANCEL_DECODER = msgspec.msgpack.Decoder(CancelRequest)
DRAIN_DECODER = msgspec.msgpack.Decoder(DrainRequest)
JOBS_CHANGED_DECODER = msgspec.msgpack.Decoder(JobsChanged)
CONSUMER_REQUEST_DECODER = msgspec.msgpack.Decoder(ConsumerRequest)
CONSUMER_REPLY_DECODER = msgspec.msgpack.Decoder(ConsumerReply)


def encode(message: msgspec.Struct) -> bytes:
    return ENCODER.encode(message)
