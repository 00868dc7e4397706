"""The asynchronous corral client (httpx). I/O: HTTP.

The twin of corral_sdk/client.py, method for method, for asyncio code; both
send the calls described in corral_sdk/calls.py.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any, TypeVar

import httpx

from common.api import (
    Accepted,
    AgentList,
    AgentView,
    AuditPage,
    Batch,
    HealthAnswer,
    JobList,
    ObjectList,
    ObjectStored,
    ObjectView,
    OperationList,
    OperationView,
    ReadyAnswer,
)
from common.detail import JobDetail
from common.rollout import Rollout
from corral_sdk import calls
from corral_sdk.calls import Call
from corral_sdk.sse import Change, JobEvent, Parser, change, job_event

Result = TypeVar("Result")


class AsyncClient:
    def __init__(self, url: str, api_key: str, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.http = httpx.AsyncClient(
            base_url=url, timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def send(self, call: Call[Result]) -> Result:
        response = await self.http.request(
            call.method,
            call.path,
            json=call.json,
            content=call.content,
            params=call.params,
            headers=call.headers,
            timeout=self.timeout + call.wait,
        )
        return call.parse(response.status_code, response.content)

    async def submit(
        self,
        operation: str,
        data: dict[str, Any] | None = None,
        target: str = "_any",
        timeout: float | None = None,
        idempotency_key: str | None = None,
        *,
        dry_run: bool = False,
        rollout: Rollout | None = None,
    ) -> Accepted:
        body = calls.job_body(operation, data, target, timeout, dry_run, rollout)
        return await self.send(calls.submit(body, idempotency_key))

    async def run(
        self,
        operation: str,
        data: dict[str, Any] | None = None,
        target: str = "_any",
        timeout: float | None = None,
        idempotency_key: str | None = None,
        *,
        wait: float = 60.0,
        dry_run: bool = False,
        rollout: Rollout | None = None,
    ) -> JobDetail | Accepted:
        """Submit and wait for the final detail (``POST /job?wait=``)."""
        body = calls.job_body(operation, data, target, timeout, dry_run, rollout)
        return await self.send(calls.run(body, wait, idempotency_key))

    async def submit_batch(
        self, bodies: Sequence[dict[str, Any]], idempotency_key: str | None = None
    ) -> Batch:
        return await self.send(calls.submit_batch(bodies, idempotency_key))

    async def job(self, job_id: str) -> JobDetail:
        return await self.send(calls.job(job_id))

    async def jobs(self, status: str | None = None, limit: int = 20, offset: int = 0) -> JobList:
        return await self.send(calls.jobs(status, limit, offset))

    async def delete(self, job_id: str) -> None:
        await self.send(calls.delete(job_id))

    async def retry(
        self,
        job_id: str,
        target: str | None = None,
        timeout: float | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        return await self.send(calls.retry(job_id, target, timeout, idempotency_key))

    async def cancel(self, job_id: str) -> Accepted:
        return await self.send(calls.cancel(job_id))

    async def operations(self) -> OperationList:
        return await self.send(calls.operations())

    async def operation(self, name: str) -> OperationView:
        return await self.send(calls.operation(name))

    async def audit(self, **filters: Any) -> AuditPage:
        """A page of the audit log (filters: key, route, status, job_id, before, limit)."""
        return await self.send(calls.audit(**filters))

    async def health(self) -> HealthAnswer:
        return await self.send(calls.health())

    async def ready(self) -> ReadyAnswer:
        return await self.send(calls.ready())

    async def openapi(self) -> dict[str, Any]:
        return await self.send(calls.openapi())

    async def agents(self) -> AgentList:
        return await self.send(calls.agents())

    async def agent(self, hostname: str) -> AgentView:
        return await self.send(calls.agent(hostname))

    async def drain(self, hostname: str) -> AgentView:
        """No new ``_any`` or broadcast work for the agent; it finishes what it runs."""
        return await self.send(calls.drain(hostname, True))

    async def undrain(self, hostname: str) -> AgentView:
        return await self.send(calls.drain(hostname, False))

    async def upload_object(self, name: str, content: bytes) -> ObjectStored:
        """Store ``content`` as the object ``name`` (replacing one of that name)."""
        return await self.send(calls.upload_object(name, content))

    async def list_objects(self) -> ObjectList:
        return await self.send(calls.list_objects())

    async def get_object(self, name: str) -> ObjectView:
        return await self.send(calls.get_object(name))

    async def delete_object(self, name: str) -> None:
        await self.send(calls.delete_object(name))

    async def watch(
        self, job_id: str, last_event_id: int | None = None
    ) -> AsyncGenerator[JobEvent, None]:
        """The job's live events (snapshot, progress..., final), until it is final."""
        headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
        async for name, event_id, data in self._stream(f"/job/{job_id}/events", headers, {}):
            event = job_event(name, event_id, data)
            if event is not None:
                yield event

    async def firehose(
        self, statuses: Sequence[str] = (), operation: str | None = None
    ) -> AsyncGenerator[Change, None]:
        params: dict[str, Any] = {"status": list(statuses)}
        if operation:
            params["operation"] = operation
        async for name, _, data in self._stream("/events", {}, params):
            found = change(name, data)
            if found is not None:
                yield found

    async def _stream(
        self, path: str, headers: dict[str, str], params: dict[str, Any]
    ) -> AsyncGenerator[tuple[str, int | None, bytes], None]:
        timeout = httpx.Timeout(self.timeout, read=None)  # a stream may be quiet for long
        request = self.http.build_request(
            "GET", path, headers=headers, params=params, timeout=timeout
        )
        response = await self.http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise calls.error_of(response.status_code, response.content)
            parser = Parser()
            async for line in response.aiter_lines():
                found = parser.feed(line)
                if found is not None:
                    yield found
        finally:
            await response.aclose()
