"""Where an agent's own consumer must start again to skip nothing. Pure logic.

The agent's consumer keeps its state in nats-server's memory, not on disk,
so a broadcast's acks cost the broker no file writes (docs/performance.md).
The price is that a restarted
broker has forgotten the consumer, while the jobs stream (on disk) still
holds every job. The agent then creates the consumer again, starting at the
lowest stream sequence it has not settled (acked or terminated): its
*floor*. Jobs from there on that it had settled come again; the journal
turns those into a re-sent outcome, never a second run (agent/runtime.py).

The floor, from what the agent saw:

- a consumer delivers new messages in stream order, so every sequence below
  the highest one delivered is settled, filtered out, or still unsettled
  here (redeliveries come back with their old sequence);
- the unsettled ones are the messages this agent received and has not acked
  or terminated yet (``received`` minus ``settled``);
- a consumer found on the broker when the agent (re)binds may hold messages
  delivered to an earlier process of this agent and never acked. Their
  sequences lie above the broker's ack floor, which is sound (everything
  at or below it is acked), so the floor stays *pinned* at or below it
  until the broker's ack floor has passed the last sequence delivered
  before this process bound (:meth:`Floor.refresh`).
"""

from __future__ import annotations


class Floor:
    """The lowest stream sequence this agent's consumer has not settled."""

    def __init__(self, saved: int | None = None) -> None:
        """``saved``: the floor a previous process recorded, if any."""
        self._highest = saved - 1 if saved is not None else None
        self._unsettled: set[int] = set()
        self._pin: int | None = None  # the broker's ack floor + 1, while it matters
        self._pinned_until = 0  # ... which is until that ack floor reaches this

    def value(self) -> int | None:
        """Where to start again; None if this agent has no position yet."""
        if self._highest is None:
            return None
        floor = min(self._unsettled) if self._unsettled else self._highest + 1
        return floor if self._pin is None else min(floor, self._pin)

    @property
    def pinned(self) -> bool:
        """The broker's ack floor must be read again (:meth:`refresh`)."""
        return self._pin is not None

    def bound(self, ack_floor: int, delivered: int) -> None:
        """The consumer as the broker reports it on (re)binding.

        ``ack_floor``: every sequence at or below it is settled; ``delivered``:
        the highest sequence it has delivered so far.
        """
        self._highest = max(self._highest or 0, delivered)
        if delivered > ack_floor:
            # Some of (ack_floor, delivered] may be unacked from before: not ours to judge.
            self._pin = ack_floor + 1 if self._pin is None else min(self._pin, ack_floor + 1)
            self._pinned_until = max(self._pinned_until, delivered)

    def refresh(self, ack_floor: int) -> None:
        """The broker's ack floor, read again while pinned."""
        if self._pin is None:
            return
        if ack_floor >= self._pinned_until:
            self._pin = None  # everything delivered before we bound is settled
        else:
            self._pin = max(self._pin, ack_floor + 1)

    def received(self, seq: int) -> None:
        self._unsettled.add(seq)
        if self._highest is None or seq > self._highest:
            self._highest = seq

    def settled(self, seq: int) -> None:
        self._unsettled.discard(seq)
