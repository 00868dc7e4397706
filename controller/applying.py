"""What a batch of events asks of the store: APPLY_EVENTS's arguments and reply. Pure.

The apply script (controller/store/scripts.py) keeps, for each agent a job counts,
the head of its terminal events as the fold orders them
(:func:`common.fold.order_key`), so it can give the job its final status in
the same call that stores the last expected answer. This module builds the
per-event arguments it needs and reads its reply.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from common import messages
from common.fold import order_key
from common.messages import ENCODER, Event, event_kind

# APPLY_EVENTS's last reply element.
FINISHED = 1  # this call wrote the job's final status
UNDECIDED = 2  # due, but the script could not decide: finalize in Python


class Applied(msgspec.Struct, frozen=True):
    """What one batch did to one job."""

    status: str
    done: int
    expected: int
    new_events: int
    flag: int = 0

    @property
    def unknown(self) -> bool:
        return self.status == "unknown"

    @property
    def finished(self) -> bool:
        """This batch gave the job its final status."""
        return self.flag == FINISHED

    @property
    def ready_to_finalize(self) -> bool:
        """Due for a final status the script left to :meth:`JobStore.finalize`."""
        return self.flag == UNDECIDED


_TERMINAL = frozenset(messages.TERMINAL_EVENTS)


def apply_args(events: Iterable[tuple[Event, bytes]]) -> list[bytes]:
    """APPLY_EVENTS's ARGV: (id, terminal or "", timestamp) per event in one array, the blobs."""
    args: list[str] = []
    blobs: list[bytes] = []
    for event, blob in events:
        kind = event_kind(event)
        if kind in _TERMINAL:
            tier, attempt, rank, _, _ = order_key(event)
            term = f"{tier}|{attempt}|{rank}|{kind}|{event.hostname}"
        else:
            term = ""
        args += (event.event_id, term, repr(event.timestamp))
        blobs.append(blob)
    return [ENCODER.encode(args), *blobs]
