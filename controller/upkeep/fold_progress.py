"""How far the collector has folded CORRAL_EVENTS, for the deadline sweeper. I/O: NATS.

The sweeper must not time out an agent whose answer is already stored in
CORRAL_EVENTS but not folded yet: after a controller or Redis outage longer
than a job's timeout, the on-time ``completed`` events of its agents wait
there, and finalizing at the deadline would end the job ``failed`` although
every agent answered in time.

CORRAL_EVENTS is a work queue: an event leaves the stream once the collector
acked it, after its Redis write (or terminated it as unusable). So once the
stream's first sequence is past the last sequence it held at time ``t``,
every event stored before ``t`` is folded. :meth:`FoldProgress.observe`
notes (time, last sequence) marks and answers with the latest such ``t``.

It also says how long the backlog has been stuck: its head not moving, or
the stream not answering. Past a bound the sweeper stops waiting, so a
collector that cannot progress delays deadlines, never suspends them.
"""

from __future__ import annotations

import math
from collections import deque

import structlog
from nats.js import JetStreamContext

from common import subjects

log = structlog.get_logger("corral.backlog")

# One mark per observation while a backlog lasts; dropping the oldest only
# makes the answer later (more cautious), never wrong.
_MAX_MARKS = 10_000


class FoldProgress:
    """The time up to which every stored agent event has been folded."""

    def __init__(self, js: JetStreamContext, stream: str = subjects.EVENTS_STREAM) -> None:
        self.js = js
        self.stream = stream
        self._marks: deque[tuple[float, int]] = deque(maxlen=_MAX_MARKS)
        self._folded = -math.inf
        self._head: int | None = None
        self._stuck_since: float | None = None

    async def observe(self, now: float) -> float:
        """Every event stored before the returned time is folded (-inf: unknown).

        ``now`` must be read before the call: anything stored before it has
        a sequence at most the stream's last one, read after it.
        """
        try:
            state = (await self.js.stream_info(self.stream)).state
        except Exception as exc:  # noqa: BLE001 - NATS down: the backlog is unknown
            log.warning("fold_progress_unknown", error=str(exc) or type(exc).__name__)
            self._stuck(now)
            return self._folded
        if state.messages == 0:
            self._marks.clear()
            self._folded, self._head, self._stuck_since = now, None, None
            return now
        while self._marks and self._marks[0][1] < state.first_seq:
            self._folded = max(self._folded, self._marks.popleft()[0])
        self._marks.append((now, state.last_seq))
        if state.first_seq != self._head:
            self._head, self._stuck_since = state.first_seq, now
        else:
            self._stuck(now)
        return self._folded

    def stuck_for(self, now: float) -> float:
        """How long the backlog's head has not moved (or the stream not answered)."""
        return 0.0 if self._stuck_since is None else now - self._stuck_since

    def forget_stall(self) -> None:
        """Redis was down: the collector could not progress, through no fault of its own."""
        self._stuck_since = None

    def _stuck(self, now: float) -> None:
        if self._stuck_since is None:
            self._stuck_since = now
