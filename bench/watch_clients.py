"""``python -m bench.watch_clients URL COUNT``: SSE firehose readers, in a process of their own.

I/O: HTTP, stdin, stdout. Opens ``COUNT`` ``GET /events`` streams (the API
key from ``CORRAL_API_KEY``), prints ``subscribed`` once every stream is
open, and reads them. When stdin gives a line, the id of a last change the
parent made (a fence: the controller hands changes out in order, gathered
for 50 ms), it waits until every stream has shown that id, then prints the
change events each read, as a JSON list, and exits. A process of its own so that reading the
streams never delays the measuring client's loop (bench/watchers.py): the
cost left is what watchers cost the controller and the cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import httpx

CHANGE = b"event: change\n"
FENCE_TAIL = 4096  # bytes of a stream kept to find the fence in, across chunks
SUBSCRIBED = "subscribed"
SUBSCRIBE_WITHIN = 30.0


class Readers:
    """``count`` open ``GET /events`` streams and the change events each has read."""

    def __init__(self, count: int) -> None:
        self.changes = [0] * count
        self.open = [asyncio.Event() for _ in range(count)]
        self.fence = b""  # the last change's job id, once the parent names it
        self.tails = [b""] * count  # each stream's last bytes, to find the fence in
        self.fenced = [asyncio.Event() for _ in range(count)]

    async def read(self, client: httpx.AsyncClient, index: int) -> None:
        """One stream, its change events counted in the raw bytes: no more parsing than that."""
        async with client.stream("GET", "/events") as response:
            if response.status_code != 200:
                raise SystemExit(f"GET /events: {response.status_code}")
            carried = b""
            async for chunk in response.aiter_raw():
                # The stream opens with a comment once the watcher is subscribed.
                self.open[index].set()
                seen = carried + chunk
                self.changes[index] += seen.count(CHANGE)
                carried = seen[-(len(CHANGE) - 1) :]
                self.tails[index] = (self.tails[index] + chunk)[-FENCE_TAIL:]
                if self.fence and self.fence in self.tails[index]:
                    self.fenced[index].set()

    async def all_fenced(self, fence: str) -> None:
        """Until every stream has shown the change of job ``fence``."""
        self.fence = fence.encode()
        for tail, fenced in zip(self.tails, self.fenced, strict=True):
            if self.fence in tail:  # arrived before the parent named it
                fenced.set()
        async with asyncio.timeout(SUBSCRIBE_WITHIN):
            for fenced in self.fenced:
                await fenced.wait()


async def subscribed(readers: Readers, tasks: list[asyncio.Task[None]]) -> None:
    """Once every stream is open; a stream that fails or ends first stops the process."""
    async with asyncio.timeout(SUBSCRIBE_WITHIN):
        for opened in readers.open:
            waiter = asyncio.create_task(opened.wait())
            await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if ended := [task for task in tasks if task.done()]:
                ended[0].result()  # raises what it raised
                raise SystemExit("a watcher's stream ended")


async def watch(url: str, count: int, key: str) -> list[int]:
    readers = Readers(count)
    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(30.0, read=None),
        limits=httpx.Limits(max_connections=count),
    ) as client:
        tasks = [asyncio.create_task(readers.read(client, i)) for i in range(count)]
        try:
            await subscribed(readers, tasks)
            print(SUBSCRIBED, flush=True)  # the parent reads it
            fence = (await asyncio.to_thread(sys.stdin.readline)).strip()
            if fence:
                await readers.all_fenced(fence)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return readers.changes


def main() -> None:
    url, count = sys.argv[1], int(sys.argv[2])
    changes = asyncio.run(watch(url, count, os.environ["CORRAL_API_KEY"]))
    print(json.dumps(changes), flush=True)  # the parent reads it


if __name__ == "__main__":
    main()
