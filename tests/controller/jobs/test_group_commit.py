"""Group commit: concurrent submits share commits, each learns its own outcome.

The commit function here is a plain recorder standing in for
:meth:`controller.jobs.group_commit.Committer.commit` (Redis and NATS are exercised by
tests/controller/api/test_batch_submit.py); what is tested is the queueing.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from controller.jobs.group_commit import GroupCommit, Outcome, Prepared


def job(name: str) -> Prepared:
    # The queue never looks inside a job: a name is enough to follow it.
    return cast(Prepared, name)


class Recorder:
    def __init__(self, fail: frozenset[object] = frozenset(), raises: Exception | None = None):
        self.commits: list[list[Any]] = []
        self.fail = fail
        self.raises = raises
        self.release = asyncio.Event()
        self.release.set()
        self.entered = asyncio.Event()  # a commit started

    async def __call__(self, jobs: list[Prepared]) -> list[Outcome]:
        self.commits.append(list(jobs))
        self.entered.set()
        await self.release.wait()
        if self.raises is not None:
            raise self.raises
        return [RuntimeError(f"{j} failed") if j in self.fail else None for j in jobs]


async def test_concurrent_submits_share_one_commit() -> None:
    commit = Recorder()
    group = GroupCommit(commit)
    await asyncio.gather(*(group.submit(job(f"j{i}")) for i in range(20)))
    assert commit.commits == [[f"j{i}" for i in range(20)]]
    assert group.running is None
    assert group.queue == []


async def test_jobs_queued_during_a_commit_go_into_the_next_one() -> None:
    commit = Recorder()
    commit.release.clear()
    group = GroupCommit(commit)
    first = asyncio.create_task(group.submit(job("a")))
    await commit.entered.wait()
    later = [asyncio.create_task(group.submit(job(n))) for n in ("b", "c")]
    await asyncio.sleep(0)
    assert commit.commits == [["a"]]  # b and c wait for a's commit to finish
    commit.release.set()
    await asyncio.gather(first, *later)
    assert commit.commits == [["a"], ["b", "c"]]


async def test_a_commit_takes_at_most_the_limit() -> None:
    commit = Recorder()
    group = GroupCommit(commit, limit=4)
    await asyncio.gather(*(group.submit(job(f"j{i}")) for i in range(10)))
    assert [len(c) for c in commit.commits] == [4, 4, 2]
    assert [j for c in commit.commits for j in c] == [f"j{i}" for i in range(10)]


async def test_a_failed_job_fails_only_its_own_request() -> None:
    group = GroupCommit(Recorder(fail=frozenset({"j3"})))
    results = await asyncio.gather(
        *(group.submit(job(f"j{i}")) for i in range(6)), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["NoneType"] * 3 + ["RuntimeError"] + [
        "NoneType"
    ] * 2
    assert str(results[3]) == "j3 failed"


async def test_a_failed_commit_fails_every_request_in_it_and_the_next_commit_runs() -> None:
    commit = Recorder(raises=ConnectionError("redis down"))
    group = GroupCommit(commit)
    results = await asyncio.gather(
        *(group.submit(job(f"j{i}")) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    commit.raises = None
    await group.submit(job("after"))
    assert commit.commits[-1] == ["after"]


async def test_a_cancelled_request_does_not_stall_the_others() -> None:
    commit = Recorder()
    commit.release.clear()
    group = GroupCommit(commit)
    first = asyncio.create_task(group.submit(job("a")))
    await commit.entered.wait()
    doomed = asyncio.create_task(group.submit(job("b")))
    kept = asyncio.create_task(group.submit(job("c")))
    await asyncio.sleep(0)
    doomed.cancel()
    commit.release.set()
    await asyncio.gather(first, kept)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    # The cancelled request's job is committed all the same: nothing half done.
    assert commit.commits == [["a"], ["b", "c"]]
