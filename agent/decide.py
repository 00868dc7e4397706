"""What to do with a verified job delivery, from the journal and the clock. Pure: no I/O.

The runtime asks :func:`decide` once per delivery and then carries out the
answer. Keeping the rules here, apart from NATS and SQLite, lets a unit test
walk every case. An ``_any`` job comes here only on the agent that holds its
claim (agent/claims.py, asked by the runtime before this), so the journal
consulted is the one agent's that may have run it:

1. a job id the journal knows under another stream sequence is a *replay*
   (republished after the duplicate window, or injected): never run; a
   finished one re-emits its stored terminal event;
2. a redelivery of a finished job re-emits its stored terminal event;
3. a job cancelled by request (the cancel may have come first) ends
   ``cancelled``;
4. a side-effect job the journal shows running when this agent process did
   not start it was running when the agent died: ``failed``, outcome unknown;
5. a job delivered more often than ``max_deliveries`` ends ``failed``;
6. a job issued in the future or expired by this agent's clock is refused;
   beyond ``skew_tolerance`` the reason names clock skew;
7. otherwise run it (``retried`` first on a redelivery).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.journal import RUNNING, TERMINAL, Entry
from common.messages import JobSpec

CANCELLED_ERROR = "cancelled by request"
OUTCOME_UNKNOWN = "agent restarted during execution; outcome unknown"


@dataclass(frozen=True)
class Run:
    attempt: int
    retried: bool


@dataclass(frozen=True)
class Reemit:
    """Publish the journal's stored terminal event again; count ``refusal`` if set."""

    event: bytes
    refusal: str | None = None


@dataclass(frozen=True)
class Finish:
    """End the job now with a terminal event of ``kind`` (``failed`` or ``cancelled``)."""

    kind: str
    error: str
    attempt: int
    refusal: str | None = None


@dataclass(frozen=True)
class Refuse:
    """Do not run and emit nothing (the job's outcome is someone else's): terminate."""

    reason: str
    details: str


Decision = Run | Reemit | Finish | Refuse


@dataclass(frozen=True)
class Delivery:
    spec: JobSpec
    seq: int  # the job message's stream sequence
    delivered: int  # JetStream's delivery count, 1 on the first delivery
    read_only: bool


def decide(
    d: Delivery,
    entry: Entry | None,
    now: float,
    *,
    max_deliveries: int,
    skew_tolerance: float,
) -> Decision:
    if entry is not None and entry.seq is not None and entry.seq != d.seq:
        if entry.state == TERMINAL and entry.terminal is not None:
            return Reemit(entry.terminal, refusal="replayed")
        return Refuse("replayed", f"job {d.spec.job_id} arrived again as a new message")
    if entry is not None and entry.state == TERMINAL and entry.terminal is not None:
        return Reemit(entry.terminal)
    if entry is not None and entry.cancelled:
        return Finish("cancelled", CANCELLED_ERROR, d.delivered)
    if entry is not None and entry.state == RUNNING and not d.read_only:
        return Finish("failed", OUTCOME_UNKNOWN, d.delivered)
    if d.delivered > max_deliveries:
        return Finish(
            "failed",
            f"gave up after {max_deliveries} delivery attempts",
            d.delivered,
            refusal="max_deliveries",
        )
    timing = check_time(d.spec, now, skew_tolerance)
    if timing is not None:
        reason, error = timing
        return Finish("failed", error, d.delivered, refusal=reason)
    return Run(attempt=d.delivered, retried=d.delivered > 1 or entry is not None)


def check_time(spec: JobSpec, now: float, tolerance: float) -> tuple[str, str] | None:
    """``(reason, error)`` if the job must not run at ``now`` (this agent's clock)."""
    age = now - spec.issued_at
    if age < -tolerance:
        return (
            "clock_skew",
            f"job issued {-age:.1f}s in the future by this agent's clock: clock skew "
            f"beyond the {tolerance:g}s tolerance; check NTP on this host",
        )
    late = now - spec.deadline
    if late <= 0:
        return None
    if late > tolerance and age > tolerance:
        # Delivered at once yet far past its deadline: this clock is likely ahead.
        return (
            "clock_skew",
            f"job expired {late:.1f}s ago by this agent's clock, {age:.1f}s after it was "
            f"issued; more than the {tolerance:g}s tolerance: clock skew or a long backlog",
        )
    return ("expired", f"job expired {late:.1f}s before this agent ran it")
