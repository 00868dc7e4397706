"""Idempotency keys for ``POST /job`` and ``POST /job/{id}/retry``. I/O: Redis.

The rule (docs/security.md, README):

- ``POST /job`` with an ``Idempotency-Key`` header: the first request with a
  key creates the job and answers 201; any later request with the same key
  and the same body (compared after validation, so key order and an explicit
  default do not matter) answers **200** with the same ``job_id`` and the
  job's current status, and header ``Idempotent-Replayed: true``. The same
  key with a different body is **422**. Keys are scoped to the API key that
  sent them and expire after 24 hours.
- ``POST /job/{id}/retry`` without the header is idempotent per source job
  and body: however many concurrent or repeated retries of one job with one
  body, one new job (for the key's lifetime). Send a distinct
  ``Idempotency-Key`` to retry the same job again on purpose
  (``corral job retry`` does, once per invocation).

A key is claimed with one ``SET NX EX`` before the job is written, so the
rule holds across any number of controller replicas sharing Redis. A claim
whose request then fails is released, so the client can simply try again.
Each key lives in its own hash slot (``corral:idem:{<digest>}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from common.errors import Conflict, CorralError
from controller.jobs.sealing import Sealer
from controller.store.redis import RedisClient, as_text

TTL = 24 * 3600
Result = TypeVar("Result")
# Compare-and-delete: release a claim only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class KeyReused(CorralError):
    code = 422
    title = "Idempotency-Key reused with a different request."


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """The job id a key stands for; ``fresh`` if this request must create it."""

    key: str
    fingerprint: str
    value: str
    job_id: str
    claimed_at: float
    fresh: bool


def canonical(body: object) -> bytes:
    """One encoding per meaning: sorted keys, no whitespace."""
    return msgspec.json.encode(body, order="sorted")


class Idempotency:
    def __init__(
        self, redis: RedisClient, sealer: Sealer, ttl: int = TTL, wait: float = 5.0
    ) -> None:
        self.redis = redis
        self.sealer = sealer
        self.ttl = ttl
        # How long a replay waits for a concurrent first request to write its job.
        self.wait = wait
        self.stale = 30.0
        self._release = redis.register_script(_RELEASE)

    def redis_key(self, scope: str, key: str) -> str:
        digest = hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()
        return f"corral:idem:{{{digest}}}"

    async def claim(self, scope: str, key: str, body: bytes) -> Claim:
        """Claim ``key`` for a new job, or return the job it already stands for."""
        return await self._claim(self.redis_key(scope, key), self.sealer.fingerprint(body))

    async def claim_again(self, lost: Claim) -> Claim:
        """After the request holding ``lost`` gave it back: claim it, or find the new holder."""
        return await self._claim(lost.key, lost.fingerprint)

    async def _claim(self, rkey: str, fingerprint: str) -> Claim:
        for _ in range(3):
            job_id, now = str(uuid.uuid4()), time.time()
            value = f"{fingerprint} {job_id} {now!r}"
            if await self.redis.set(rkey, value, nx=True, ex=self.ttl):
                return Claim(
                    key=rkey,
                    fingerprint=fingerprint,
                    value=value,
                    job_id=job_id,
                    claimed_at=now,
                    fresh=True,
                )
            found = await self.redis.get(rkey)
            if found is None:
                continue  # released or expired between SET and GET: claim again
            stored_fp, stored_id, stored_at = as_text(found).split(" ")
            if stored_fp != fingerprint:
                raise KeyReused("this Idempotency-Key was first used with a different body")
            return Claim(
                key=rkey,
                fingerprint=fingerprint,
                value=as_text(found),
                job_id=stored_id,
                claimed_at=float(stored_at),
                fresh=False,
            )
        raise Conflict("Idempotency-Key is contended; retry the request")

    async def run(
        self,
        claim: Claim,
        *,
        written: Callable[[str], Awaitable[bool]],
        create: Callable[[str], Awaitable[Result]],
        replay: Callable[[str], Awaitable[Result]],
    ) -> tuple[Result, bool]:
        """Create what ``claim`` stands for, or answer with what the key already made.

        ``written(id)`` tells whether the claimed id's jobs exist, ``create(id)``
        makes them, ``replay(id)`` describes them. Returns (result, replayed).
        A claim whose request fails is given back, so the client may retry.
        """
        while not claim.fresh:
            if await self.settled(claim, written):
                return await replay(claim.job_id), True
            # The first request failed and released the key: this one may create it.
            claim = await self.claim_again(claim)
        try:
            return await create(claim.job_id), False
        except BaseException:
            with contextlib.suppress(Exception):  # a stale claim is taken back later anyway
                await self.release(claim)
            raise

    async def release(self, claim: Claim) -> None:
        """Give a claim back (its request failed, or its holder died)."""
        await self._release(keys=[claim.key], args=[claim.value])

    async def settled(self, claim: Claim, exists: Callable[[str], Awaitable[bool]]) -> bool:
        """Wait until the claimed job exists (True) or the claim was given back (False).

        A claim whose job never appeared long after it was made belongs to a
        controller that died between claim and record: it is taken back.
        """
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline:
            if await exists(claim.job_id):
                return True
            if as_text(await self.redis.get(claim.key) or b"") != claim.value:
                return False
            if time.time() - claim.claimed_at > self.stale:
                await self.release(claim)
                return False
            await asyncio.sleep(0.02)
        raise Conflict("a request with this Idempotency-Key is still in progress; retry")
