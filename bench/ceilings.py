"""The bare parts' ceilings, measured in the same run as corral. I/O: NATS, Redis.

Each ceiling is the least a Python process can do with the part corral
stands on, so corral's figure over it says how much corral adds:

- NATS fan-out: one publish to N core subscriptions on one connection (like
  the swarm), each answering once; the time until all N answers are in;
- JetStream fetch/ack: messages pre-published to a work-queue stream, then
  drained by ``fetch(256)`` and one ack each (the collector's loop);
- Redis HSET: pipelined HSETs, 256 per pipeline, from one process;
- claims: what the claim of an `_any` job costs, one at a time and many in
  flight, in the controller's own claims bucket (it needs the controller).

Streams and keys made here are named ``BENCH_*``/``bench:*`` and removed.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig
from redis.asyncio import Redis

from agent.claims import Claims
from bench.stack import BenchFailure

BATCH = 256


async def nats_fanout(
    url: str, count: int, reps: int = 3, *, answer_url: str | None = None
) -> float:
    """Median seconds from one publish to ``count`` answers collected.

    ``answer_url``: where the answering connection connects, if not ``url``
    (on a cluster, another node: the publish then crosses a route, as a job does).
    """
    agents = await nats.connect(answer_url or url, name="bench-fanout-agents", pending_size=0)
    boss = await nats.connect(url, name="bench-fanout-boss")
    try:
        for index in range(count):
            host = f"h{index}"

            async def answer(msg: Msg, host: str = host) -> None:
                await agents.publish(msg.reply, host.encode())

            await agents.subscribe("bench.fanout", cb=answer)
        await agents.flush()
        times = []
        for rep in range(reps):
            seen: set[bytes] = set()
            done = asyncio.Event()

            async def collect(
                msg: Msg, seen: set[bytes] = seen, done: asyncio.Event = done
            ) -> None:
                seen.add(msg.data)
                if len(seen) == count:
                    done.set()

            inbox = f"bench.fanout.reply.{rep}"
            sub = await boss.subscribe(inbox, cb=collect)
            await boss.flush()
            started = time.perf_counter()
            await boss.publish("bench.fanout", b"ping", reply=inbox)
            await asyncio.wait_for(done.wait(), 60)
            times.append(time.perf_counter() - started)
            await sub.unsubscribe()
        return statistics.median(times)
    finally:
        await agents.close()
        await boss.close()


async def jetstream_fetch_ack(url: str, count: int) -> float:
    """Messages/s that one fetch(256)+ack loop drains from a work-queue stream."""
    nc = await nats.connect(url, name="bench-js")
    js = nc.jetstream()
    stream = "BENCH_CEILING"
    try:
        await js.add_stream(
            StreamConfig(
                name=stream, subjects=["bench.ceiling.>"], retention=RetentionPolicy.WORK_QUEUE
            )
        )
        payload = b"x" * 200  # about the size of an encoded event
        for start in range(0, count, 1000):
            futures = [
                await js.publish_async(f"bench.ceiling.h{i % 50}", payload)
                for i in range(start, min(count, start + 1000))
            ]
            await asyncio.gather(*futures)
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name="drain", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20_000
            ),
        )
        sub = await js.pull_subscribe_bind("drain", stream=stream)
        drained = 0
        started = time.perf_counter()
        while drained < count:
            msgs = await sub.fetch(BATCH, timeout=5.0)
            for msg in msgs:
                await msg.ack()
            drained += len(msgs)
        await nc.flush()
        elapsed = time.perf_counter() - started
        return count / elapsed
    finally:
        try:
            await js.delete_stream(stream)
        finally:
            await nc.close()


async def redis_hset(url: str, count: int) -> float:
    """HSET ops/s, pipelined 256 at a time, from this process."""
    redis = Redis.from_url(url)
    try:
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            async with redis.pipeline(transaction=False) as pipe:
                for index in range(start, min(count, start + BATCH)):
                    pipe.hset(f"bench:{{ceiling}}:{index % 1000}", f"f{index}", b"x" * 100)
                await pipe.execute()
        elapsed = time.perf_counter() - started
        keys = [f"bench:{{ceiling}}:{index}" for index in range(1000)]
        if await redis.hlen(keys[0]) == 0:
            raise BenchFailure("the Redis ceiling wrote nothing")
        await redis.delete(*keys)
        return count / elapsed
    finally:
        await redis.aclose()


async def claims(url: str, count: int, concurrency: int = 64) -> tuple[float, float]:
    """What an `_any` job's claim costs (agent/claims.py, the corral bucket):
    the median seconds of one claim, one at a time, and claims/s with
    ``concurrency`` in flight from one connection, as a busy agent makes them."""
    nc = await nats.connect(url, name="bench-claims")
    try:
        claim = Claims(nc.jetstream(), "bench-claims.local").claim
        times = []
        for _ in range(count // 10):
            started = time.perf_counter()
            if not await claim(str(uuid.uuid4())):
                raise BenchFailure("a fresh job id's claim was lost")
            times.append(time.perf_counter() - started)
        ids = [str(uuid.uuid4()) for _ in range(count)]
        started = time.perf_counter()
        for start in range(0, count, concurrency):
            won = await asyncio.gather(*(claim(i) for i in ids[start : start + concurrency]))
            if not all(won):
                raise BenchFailure("a fresh job id's claim was lost")
        return statistics.median(times), count / (time.perf_counter() - started)
    finally:
        await nc.close()
