"""Counting HTTP requests by route, method and status, for metrics. No I/O.

Pure ASGI middleware: it watches the response start go by and, once the
request is done, counts it under the route's template (``/job/{job_id}``,
which Starlette's router leaves in the scope), never the raw path, so the
metric's labels stay few. Streams are counted when they end. The count is a
plain dict, read when Prometheus scrapes (controller/metrics.py): a labelled
metric's lock and lookups per request were a visible share of a read.
"""

from __future__ import annotations

from collections import Counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestCounter:
    def __init__(self, app: ASGIApp, requests: Counter[tuple[str, str, str]]) -> None:
        self.app = app
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app fails before it starts a response

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests[(route, scope["method"], str(status))] += 1
