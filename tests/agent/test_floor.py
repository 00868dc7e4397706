"""The agent's floor (agent/floor.py): never above a message it has not settled."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from agent.floor import Floor


def test_no_position_until_the_consumer_is_bound_or_a_message_arrives() -> None:
    assert Floor().value() is None
    assert Floor(42).value() == 42


def test_floor_is_the_lowest_unsettled_message_else_past_the_highest() -> None:
    floor = Floor()
    floor.bound(ack_floor=10, delivered=10)
    assert floor.value() == 11
    for seq in (11, 14, 20):
        floor.received(seq)
    floor.settled(14)
    assert floor.value() == 11
    floor.settled(11)
    assert floor.value() == 20
    floor.settled(20)
    assert floor.value() == 21


def test_messages_delivered_before_this_process_pin_the_floor_until_acked() -> None:
    floor = Floor(5)  # saved by the last process, which died with 7 and 9 unacked
    floor.bound(ack_floor=6, delivered=9)
    floor.received(12)
    floor.settled(12)
    assert floor.pinned
    assert floor.value() == 7
    floor.refresh(ack_floor=8)  # 7 redelivered and acked; 9 not yet
    assert floor.pinned
    assert floor.value() == 9
    floor.refresh(ack_floor=12)
    assert not floor.pinned
    assert floor.value() == 13


@dataclass
class Broker:
    """What the consumer knows: delivered stream sequences and which are acked."""

    delivered: list[int] = field(default_factory=list)
    acked: set[int] = field(default_factory=set)

    @property
    def ack_floor(self) -> int:
        floor = 0
        for seq in self.delivered:
            if seq not in self.acked:
                break
            floor = seq
        return floor

    def unacked(self) -> list[int]:
        return [seq for seq in self.delivered if seq not in self.acked]


# new: deliver the next matching message; settle/redeliver: one unacked message
# (by index); restart: a new process from the last saved floor; save; refresh.
STEP = st.one_of(
    st.tuples(st.just("new"), st.integers(1, 3)),
    st.tuples(st.sampled_from(["settle", "redeliver"]), st.integers(0, 50)),
    st.tuples(st.sampled_from(["restart", "save", "refresh"]), st.just(0)),
)


@given(st.lists(STEP, max_size=80))
def test_floor_never_passes_an_unacked_message_across_restarts(
    steps: list[tuple[str, int]],
) -> None:
    broker = Broker()
    next_seq = 1
    saved: int | None = None
    floor = Floor()
    floor.bound(0, 0)
    held: set[int] = set()  # what this process received and has not settled
    for action, arg in steps:
        unacked = broker.unacked()
        if action == "new":
            next_seq += arg  # the skipped ones are not for this agent
            broker.delivered.append(next_seq)
            floor.received(next_seq)
            held.add(next_seq)
        elif action == "settle" and held:
            seq = sorted(held)[arg % len(held)]
            held.discard(seq)
            broker.acked.add(seq)
            floor.settled(seq)
        elif action == "redeliver" and unacked:
            seq = unacked[arg % len(unacked)]
            floor.received(seq)
            held.add(seq)
        elif action == "restart":
            floor = Floor(saved)
            floor.bound(broker.ack_floor, max(broker.delivered, default=0))
            held = set()
        elif action == "save":
            saved = floor.value()
        elif action == "refresh":
            floor.refresh(broker.ack_floor)
        value = floor.value()
        assert value is not None
        assert all(value <= seq for seq in broker.unacked()), (value, broker.unacked())
        assert saved is None or all(saved <= seq for seq in broker.unacked())
