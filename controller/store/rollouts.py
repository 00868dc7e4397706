"""A rolling rollout's state in Redis, claimed atomically. I/O: Redis only.

Keys (the job's under its hash tag, so the claim script, ROLLOUT_CLAIM in
controller/store/scripts.py, runs on Redis Cluster; listed with the rest in
controller/store/keys.py)::

    corral:{<id>}:rollout   hash  batch        the highest batch claimed (0: none)
                                  batch:<n>    who claimed batch n (the claim itself)
                                  host:<host>  "<n>|<claimed at>": sent in batch n;
                                               "stop": never to be sent
                                  seq:<host>   CORRAL_JOBS sequence of its copy, once acked
                                  finished:<n> when a controller first saw batch n finished
                                  stopped      failures counted when the rollout stopped
    corral:{index}:rollouts zset  job id of an unfinished rollout, scored by when
                                  it next needs a look without any event

A host is sent only by the controller whose claim of it succeeded, and a
batch is started only by the one whose claim of ``batch:<n>`` did: two
controllers never send the same batch twice. The claim refuses a job that
is final (cancelled, or finished at its deadline), atomically with the
cancel script, so nothing is sent after a cancel was recorded.
"""

from __future__ import annotations

from typing import Any

import msgspec

from common.job import META_DECODER, JobMeta
from controller.store.keys import INDEX_ROLLOUTS, job_key, rollout_key, terminal_key
from controller.store.redis import RedisClient, as_bytes, as_text, execute
from controller.store.scripts import ROLLOUT_STOP, SHAS


class Claim(msgspec.Struct, frozen=True):
    """One host's claim: its batch and when, or ``stopped`` (never to be sent)."""

    batch: int
    at: float
    stopped: bool = False


class RolloutState(msgspec.Struct, frozen=True, kw_only=True):
    """What deciding a rollout's next step needs, read in one round trip."""

    meta: JobMeta
    status: str
    sealed: bytes | None
    batch: int
    claims: dict[str, Claim]
    acked: frozenset[str]  # hosts whose copy JetStream stored
    finished: dict[int, float]
    stopped: int | None  # failures counted when it stopped
    terminal: dict[str, str]  # host -> kind of its terminal head


def _terminal_kind(head: bytes) -> str:
    # "tier|attempt|rank|timestamp|kind|event_id" (controller/store/scripts.py)
    parts = as_text(head).split("|", 5)
    return parts[4] if len(parts) == 6 else ""


def parse_state(meta: JobMeta, status: str, sealed: Any, fields: dict[Any, Any]) -> RolloutState:
    claims: dict[str, Claim] = {}
    acked: set[str] = set()
    finished: dict[int, float] = {}
    batch, stopped = 0, None
    for raw_name, raw_value in fields.items():
        name, value = as_text(raw_name), as_text(raw_value)
        kind, _, rest = name.partition(":")
        if kind == "host":
            if value == ROLLOUT_STOP:
                claims[rest] = Claim(0, 0.0, stopped=True)
            else:
                n, _, at = value.partition("|")
                claims[rest] = Claim(int(n), float(at))
        elif kind == "seq":
            acked.add(rest)
        elif kind == "finished":
            finished[int(rest)] = float(value)
        elif name == "batch":
            batch = int(value)
        elif name == "stopped":
            stopped = int(value)
    return RolloutState(
        meta=meta,
        status=status,
        sealed=None if sealed is None else as_bytes(sealed),
        batch=batch,
        claims=claims,
        acked=frozenset(acked),
        finished=finished,
        stopped=stopped,
        terminal={},
    )


class RolloutStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def state(self, job_id: str) -> RolloutState | None:
        """The rollout as stored, or None if its job is gone."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(job_key(job_id), "meta", "status", "sealed")
            pipe.hgetall(rollout_key(job_id))
            pipe.hgetall(terminal_key(job_id))
            (meta, status, sealed), fields, heads = await pipe.execute()
        if meta is None:
            return None
        state = parse_state(META_DECODER.decode(as_bytes(meta)), as_text(status), sealed, fields)
        terminal = {as_text(h): _terminal_kind(v) for h, v in heads.items()}
        return msgspec.structs.replace(state, terminal=terminal)

    async def claim(
        self, job_id: str, mode: str, n: int, claimer: str, now: float, hosts: list[str]
    ) -> list[str]:
        """Claim ``hosts`` (and for ``batch`` mode batch ``n``); the ones this call got."""
        keys = (job_key(job_id), rollout_key(job_id))
        command = ("EVALSHA", SHAS["rollout_claim"], len(keys), *keys, mode, n, claimer, repr(now))
        [claimed] = await execute(self.redis, [(*command, *hosts)])
        return [as_text(host) for host in claimed]

    async def acked(self, job_id: str, seqs: dict[str, int]) -> None:
        """Note the stream sequence of each host's acked copy."""
        if seqs:
            await self.redis.hset(
                rollout_key(job_id), mapping={f"seq:{h}": s for h, s in seqs.items()}
            )

    async def finished(self, job_id: str, n: int, now: float) -> float:
        """When batch ``n`` was first seen finished (``now`` if this is the first time)."""
        key = rollout_key(job_id)
        await self.redis.hsetnx(key, f"finished:{n}", repr(now))
        return float(as_text(await self.redis.hget(key, f"finished:{n}") or repr(now)))

    async def messages(self, job_id: str) -> tuple[list[int], bool]:
        """The stream sequences of the copies sent, and whether a claimed copy's is unknown."""
        fields = {
            as_text(k): as_text(v)
            for k, v in (await self.redis.hgetall(rollout_key(job_id))).items()
        }
        seqs = sorted(int(v) for k, v in fields.items() if k.startswith("seq:"))
        pending = any(
            k.startswith("host:") and v != ROLLOUT_STOP and f"seq:{k[5:]}" not in fields
            for k, v in fields.items()
        )
        return seqs, pending

    # -- the index of unfinished rollouts ------------------------------------------

    async def look_at(self, job_id: str, when: float) -> None:
        await self.redis.zadd(INDEX_ROLLOUTS, {job_id: when})

    async def forget(self, job_id: str) -> None:
        await self.redis.zrem(INDEX_ROLLOUTS, job_id)

    async def unfinished(self, limit: int = 10_000) -> dict[str, float]:
        """Every unfinished rollout and when it next needs a look, soonest first."""
        found = await self.redis.zrange(INDEX_ROLLOUTS, 0, limit - 1, withscores=True)
        return {as_text(pair[0]): float(pair[1]) for pair in found}
