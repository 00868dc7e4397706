"""The synchronous corral client (httpx). I/O: HTTP.

Every route of the API as a typed method (answers are common/ structs,
errors corral_sdk.errors exceptions), plus :meth:`Client.watch` and
:meth:`Client.firehose` for the live streams. The async twin is
corral_sdk/aio.py; both send the calls described in corral_sdk/calls.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
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


class Client:
    def __init__(self, url: str, api_key: str, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.http = httpx.Client(
            base_url=url, timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def send(self, call: Call[Result]) -> Result:
        response = self.http.request(
            call.method,
            call.path,
            json=call.json,
            content=call.content,
            params=call.params,
            headers=call.headers,
            timeout=self.timeout + call.wait,
        )
        return call.parse(response.status_code, response.content)

    def submit(
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
        return self.send(calls.submit(body, idempotency_key))

    def run(
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
        return self.send(calls.run(body, wait, idempotency_key))

    def submit_batch(
        self, bodies: Sequence[dict[str, Any]], idempotency_key: str | None = None
    ) -> Batch:
        return self.send(calls.submit_batch(bodies, idempotency_key))

    def job(self, job_id: str) -> JobDetail:
        return self.send(calls.job(job_id))

    def jobs(self, status: str | None = None, limit: int = 20, offset: int = 0) -> JobList:
        return self.send(calls.jobs(status, limit, offset))

    def delete(self, job_id: str) -> None:
        self.send(calls.delete(job_id))

    def retry(
        self,
        job_id: str,
        target: str | None = None,
        timeout: float | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        return self.send(calls.retry(job_id, target, timeout, idempotency_key))

    def cancel(self, job_id: str) -> Accepted:
        return self.send(calls.cancel(job_id))

    def operations(self) -> OperationList:
        return self.send(calls.operations())

    def operation(self, name: str) -> OperationView:
        return self.send(calls.operation(name))

    def audit(self, **filters: Any) -> AuditPage:
        """A page of the audit log (filters: key, route, status, job_id, before, limit)."""
        return self.send(calls.audit(**filters))

    def health(self) -> HealthAnswer:
        return self.send(calls.health())

    def ready(self) -> ReadyAnswer:
        return self.send(calls.ready())

    def openapi(self) -> dict[str, Any]:
        return self.send(calls.openapi())

    def agents(self) -> AgentList:
        return self.send(calls.agents())

    def agent(self, hostname: str) -> AgentView:
        return self.send(calls.agent(hostname))

    def drain(self, hostname: str) -> AgentView:
        """No new ``_any`` or broadcast work for the agent; it finishes what it runs."""
        return self.send(calls.drain(hostname, True))

    def undrain(self, hostname: str) -> AgentView:
        return self.send(calls.drain(hostname, False))

    def upload_object(self, name: str, content: bytes) -> ObjectStored:
        """Store ``content`` as the object ``name`` (replacing one of that name)."""
        return self.send(calls.upload_object(name, content))

    def list_objects(self) -> ObjectList:
        return self.send(calls.list_objects())

    def get_object(self, name: str) -> ObjectView:
        return self.send(calls.get_object(name))

    def delete_object(self, name: str) -> None:
        self.send(calls.delete_object(name))

    def watch(self, job_id: str, last_event_id: int | None = None) -> Iterator[JobEvent]:
        """The job's live events (snapshot, progress..., final), until it is final."""
        headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
        for name, event_id, data in self._stream(f"/job/{job_id}/events", headers, {}):
            event = job_event(name, event_id, data)
            if event is not None:
                yield event

    def firehose(
        self, statuses: Sequence[str] = (), operation: str | None = None
    ) -> Iterator[Change]:
        params: dict[str, Any] = {"status": list(statuses)}
        if operation:
            params["operation"] = operation
        for name, _, data in self._stream("/events", {}, params):
            found = change(name, data)
            if found is not None:
                yield found

    def _stream(
        self, path: str, headers: dict[str, str], params: dict[str, Any]
    ) -> Iterator[tuple[str, int | None, bytes]]:
        timeout = httpx.Timeout(self.timeout, read=None)  # a stream may be quiet for long
        request = self.http.build_request(
            "GET", path, headers=headers, params=params, timeout=timeout
        )
        with contextlib.closing(self.http.send(request, stream=True)) as response:
            if response.status_code >= 400:
                response.read()
                raise calls.error_of(response.status_code, response.content)
            parser = Parser()
            for line in response.iter_lines():
                found = parser.feed(line)
                if found is not None:
                    yield found
