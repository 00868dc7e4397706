"""The checker: classify every submitted job as ok, lost, duplicated or double-counted.

I/O: reads the API (what an administrator sees), Redis (the stored events)
and counter files (what side-effect operations really did).

- **lost**: not in a final status by its deadline plus the sweep slack, or an
  expected agent without a terminal state (or without a reason when it did
  not complete);
- **duplicated**: a side-effect operation ran more than once for one job,
  counted per job across agents from the counter file: an ``_any`` job on
  more than one agent (or twice on one), any job twice on one agent, or on
  an agent it was not addressed to;
- **double-counted**: the API record differs from the oracle (the stored
  events, de-duplicated, shuffled and folded one by one with
  :func:`common.fold.fold`, then rendered), or the job's count of finished
  agents differs from the number of agents with a first terminal event.

The counter file is the host-side witness, and the record must agree with
it: an agent the record shows ``completed`` whose side effect never ran
there is **lost** (an answer nobody can have given).

A scenario asserts ``lost == duplicated == double_counted == 0``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from common.detail import render
from common.fold import EMPTY, fold
from common.job import FINAL_STATUSES, META_DECODER
from common.messages import EVENT_DECODER, Event
from controller.store.keys import events_key, job_key, terminal_key
from controller.store.redis import RedisClient

AGENT_TERMINAL = frozenset({"completed", "failed", "skipped", "timeout", "cancelled"})
# Beyond deadline + sweep interval: the sweeper's grace (1 s) and a loaded box.
DEFAULT_SLACK = 10.0


@dataclass
class Tracked:
    """One accepted job and what the checker needs to judge it."""

    job_id: str
    deadline: float  # time.time() by which it must be final (before slack)
    counter: Path | None = None  # side-effect jobs: their counter file
    token: str = ""
    any_agent: bool = False  # target _any: the agent that answered is the job's


@dataclass
class Verdict:
    ok: list[str] = field(default_factory=list)
    lost: dict[str, str] = field(default_factory=dict)
    duplicated: dict[str, str] = field(default_factory=dict)
    double_counted: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "jobs": len(self.ok) + len(self.lost) + len(self.duplicated) + len(self.double_counted),
            "ok": len(self.ok),
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "double_counted": len(self.double_counted),
        }

    def assert_clean(self) -> None:
        problems = {"lost": self.lost, "duplicated": self.duplicated}
        problems["double_counted"] = self.double_counted
        assert not any(problems.values()), {k: v for k, v in problems.items() if v}


def counter_runs(counter: Path, token: str) -> Counter[str]:
    """How many times each agent ran the side effect named ``token``.

    Two line formats: ``<token> <agent>`` from :func:`~tests.faults.cluster.counter_op`
    (a ``command.exec``), and ``<job id>`` alone from the agent's ``test.counter``
    operation, counted under ``*`` (use one file per agent for broadcasts).
    """
    runs: Counter[str] = Counter()
    if counter.exists():
        for line in counter.read_text().splitlines():
            parts = line.split()
            if parts and parts[0] == token:
                runs[parts[1] if len(parts) > 1 else "*"] += 1
    return runs


def witnessed(
    runs: Counter[str], states: dict[str, Any], *, any_agent: bool
) -> tuple[str, str] | None:
    """Judge one job's side effect, counted per job across agents, against its record.

    ``runs`` is :func:`counter_runs` (agent -> runs; ``*`` when the witness
    does not name the agent), ``states`` the detail's ``agent_states``.
    """
    total = sum(runs.values())
    if any_agent and total > 1:
        return "duplicated", f"_any side effect ran {total} times in all: {dict(runs)}"
    twice = {host: n for host, n in runs.items() if n > 1}
    if twice:
        return "duplicated", f"side effect ran {twice}"
    if "*" in runs:
        return None  # the witness does not say where it ran
    addressed = {host for host, state in states.items() if state["expected"]}
    if not any_agent and set(runs) - addressed:
        return "duplicated", f"side effect ran on {sorted(set(runs) - addressed)}, not addressed"
    for host, state in states.items():
        if state["status"] == "completed" and host in addressed and not runs[host]:
            return "lost", f"{host} completed but its side effect never ran there"
    return None


async def oracle_detail(store: RedisClient, job_id: str, seed: int) -> tuple[Any, int, int]:
    """The detail the stored events must give, and the ``done`` / terminal counts."""
    async with store.pipeline(transaction=False) as pipe:
        pipe.hmget(job_key(job_id), "meta", "status", "done")
        pipe.hvals(events_key(job_id))
        pipe.hlen(terminal_key(job_id))
        (meta_blob, status, done), blobs, terminal = await pipe.execute()
    events: list[Event] = [EVENT_DECODER.decode(b) for b in blobs]
    unique = list({e.event_id: e for e in events}.values())
    random.Random(seed).shuffle(unique)
    record = EMPTY
    for event in unique:
        record = fold(record, event)
    detail = render(META_DECODER.decode(meta_blob), record, status.decode())
    return msgspec.json.decode(msgspec.json.encode(detail)), int(done or 0), int(terminal)


class Checker:
    def __init__(self, api: httpx.AsyncClient, store: RedisClient, slack: float = DEFAULT_SLACK):
        self.api = api
        self.store = store
        self.slack = slack
        self.jobs: list[Tracked] = []

    def track(
        self,
        job_id: str,
        timeout: float,
        *,
        counter: Path | None = None,
        token: str = "",
        any_agent: bool = False,
    ) -> Tracked:
        job = Tracked(job_id, time.time() + timeout, counter, token, any_agent)
        self.jobs.append(job)
        return job

    async def final_detail(self, job: Tracked) -> dict[str, Any] | None:
        """The job's detail once final, or None if it is not by its deadline + slack."""
        while True:
            try:
                response = await self.api.get(f"/job/{job.job_id}")
                if response.status_code == 200 and response.json()["status"] in FINAL_STATUSES:
                    found: dict[str, Any] = response.json()
                    return found
            except httpx.HTTPError:
                pass  # a controller being restarted: keep asking until the deadline
            if time.time() > job.deadline + self.slack:
                return None
            await asyncio.sleep(0.1)

    async def check(self) -> Verdict:
        verdict = Verdict()
        for job in self.jobs:
            problem = await self.judge(job)
            if problem is None:
                verdict.ok.append(job.job_id)
            else:
                kind, why = problem
                getattr(verdict, kind)[job.job_id] = why
        return verdict

    async def judge(self, job: Tracked) -> tuple[str, str] | None:
        detail = await self.final_detail(job)
        if detail is None:
            return "lost", "not final by deadline + sweep slack"
        if job.counter is not None:
            runs = counter_runs(job.counter, job.token or job.job_id)
            problem = witnessed(runs, detail["agent_states"], any_agent=job.any_agent)
            if problem is not None:
                return problem
        states = detail["agent_states"]
        if job.any_agent:
            # Exactly one agent's answer decides an _any job; an agent that took it
            # and died before another ran it may stay behind as non-terminal.
            if not any(s["status"] in AGENT_TERMINAL for s in states.values()):
                return "lost", "no agent of the _any job reached a terminal state"
            return await self.recount(job)
        for host, state in states.items():
            if not state["expected"]:
                continue
            if state["status"] not in AGENT_TERMINAL:
                return "lost", f"expected agent {host} ended {state['status']}"
            if state["status"] != "completed" and not state["error"]:
                return "lost", f"agent {host} ended {state['status']} without a reason"
        return await self.recount(job)

    async def recount(self, job: Tracked) -> tuple[str, str] | None:
        # Late answers may land between the two reads: re-read until stable.
        for attempt in range(5):
            expected, done, terminal = await oracle_detail(self.store, job.job_id, attempt)
            seen = (await self.api.get(f"/job/{job.job_id}")).json()
            again, _, _ = await oracle_detail(self.store, job.job_id, attempt + 100)
            if expected == again:
                break
        if done != terminal:
            return "double_counted", f"done={done} but {terminal} agents have a terminal event"
        if seen != expected:
            diff = {k: (seen.get(k), v) for k, v in expected.items() if seen.get(k) != v}
            return "double_counted", f"record differs from the oracle: {diff}"
        return None
