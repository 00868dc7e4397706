"""The checker's host-side witness rules, per job across agents. Pure: no servers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.faults.checker import counter_runs, witnessed


def state(status: str, expected: bool = True) -> dict[str, Any]:
    return {"status": status, "expected": expected}


def kind(runs: dict[str, int], states: dict[str, Any], *, any_agent: bool) -> str:
    """The problem's kind, or "" when the witness and the record agree."""
    found = witnessed(Counter(runs), states, any_agent=any_agent)
    return "" if found is None else found[0]


def test_an_any_job_that_ran_once_on_each_of_two_agents_is_duplicated() -> None:
    runs = Counter({"a.test": 1, "b.test": 1})
    found = witnessed(runs, {"a.test": state("completed")}, any_agent=True)
    assert found == ("duplicated", f"_any side effect ran 2 times in all: {dict(runs)}")


def test_an_any_job_run_once_by_its_winner_is_clean() -> None:
    assert kind({"a.test": 1}, {"a.test": state("completed")}, any_agent=True) == ""


def test_an_any_job_whose_winner_died_may_have_run_once_or_not_at_all() -> None:
    timed_out = {"controller": state("timeout")}
    assert kind({"a.test": 1}, timed_out, any_agent=True) == ""
    assert kind({}, timed_out, any_agent=True) == ""


def test_a_completed_answer_without_a_run_there_is_lost() -> None:
    completed = {"a.test": state("completed")}
    assert kind({}, completed, any_agent=True) == "lost"
    assert kind({"b.test": 1}, completed, any_agent=True) == "lost"


def test_a_targeted_job_run_on_an_agent_it_was_not_for_is_duplicated() -> None:
    states = {"a.test": state("completed")}
    assert kind({"a.test": 1, "b.test": 1}, states, any_agent=False) == "duplicated"
    assert kind({"a.test": 1}, states, any_agent=False) == ""


def test_a_broadcast_runs_once_per_expected_agent() -> None:
    states = {"a.test": state("completed"), "b.test": state("completed")}
    assert kind({"a.test": 1, "b.test": 1}, states, any_agent=False) == ""
    assert kind({"a.test": 2, "b.test": 1}, states, any_agent=False) == "duplicated"


def test_counter_lines_are_counted_per_token_and_agent(tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    counter.write_text("t1 a.test\nt2 a.test\nt1 b.test\njob-1\n")
    assert counter_runs(counter, "t1") == {"a.test": 1, "b.test": 1}
    assert counter_runs(counter, "job-1") == {"*": 1}
