"""Hot-path pipelines read under one timeout instead of one per reply. I/O: Redis.

With a ``socket_timeout`` on the client, redis-py reads every reply of a
pipeline inside its own ``asyncio.timeout``: for the submit path and the
collector, one pipeline holds a few commands per job, and those contexts were
about 15 % of a busy controller's CPU (docs/performance.md). The controller
therefore runs its hot pipelines on a second client without a read timeout
(``bulk``, controller/server.py) and bounds each pipeline as a whole here,
with the same bound, so a Redis that stops answering still fails the call
(503 at the API, retried by the collector) rather than hanging it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.client import Pipeline
from redis.exceptions import TimeoutError as RedisTimeoutError

READ_TIMEOUT = 5.0  # the main client's socket_timeout (controller/server.py)
PIPELINE_TIMEOUT = READ_TIMEOUT  # the same bound for a whole hot pipeline


async def run_pipeline(pipe: Pipeline, **options: Any) -> list[Any]:
    """``pipe.execute(**options)``, failing like a socket timeout after PIPELINE_TIMEOUT."""
    try:
        async with asyncio.timeout(PIPELINE_TIMEOUT):
            replies: list[Any] = await pipe.execute(**options)
    except TimeoutError:
        # redis-py closed the connection on the cancel; callers handle RedisError.
        raise RedisTimeoutError(f"Redis did not answer within {PIPELINE_TIMEOUT:g}s") from None
    return replies
