"""A small HTTP client for the corral API (httpx). I/O: HTTP."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from common.job import FINAL_STATUSES

if TYPE_CHECKING:
    import httpx


class ApiError(Exception):
    """An error body from the API: ``{error, details, code}``."""

    def __init__(self, code: int, error: str, details: str) -> None:
        super().__init__(f"{code} {error}: {details}")
        self.code, self.error, self.details = code, error, details


class Client:
    def __init__(self, url: str, api_key: str, timeout: float = 10.0) -> None:
        # Imported here: every `corral` process loads this module, and httpx
        # is ~15 MB of an agent's RSS that only the client commands use.
        import httpx

        self.http: httpx.Client = httpx.Client(
            base_url=url, timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ApiError(response.status_code, body.get("error", ""), body.get("details", ""))
            except ValueError:
                raise ApiError(
                    response.status_code, response.reason_phrase, response.text[:200]
                ) from None
        return response.json() if response.content else None

    def submit(
        self,
        operation: str,
        data: dict[str, Any] | None = None,
        target: str = "_any",
        timeout: float | None = None,
        idempotency_key: str | None = None,
        *,
        dry_run: bool = False,
    ) -> str:
        """Submit a job; with ``idempotency_key``, resending returns the same job."""
        answer = self._submit(operation, data, target, timeout, idempotency_key, dry_run=dry_run)
        return str(answer["job_id"])

    def run(
        self,
        operation: str,
        data: dict[str, Any] | None = None,
        target: str = "_any",
        timeout: float | None = None,
        idempotency_key: str | None = None,
        *,
        wait: float,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Submit a job and answer its final detail (``POST /job?wait=``); past ``wait``
        seconds, its detail as it stands."""
        answer = self._submit(
            operation, data, target, timeout, idempotency_key, wait, dry_run=dry_run
        )
        if "id" in answer:
            return answer
        return self.job(str(answer["job_id"]))

    def _submit(
        self,
        operation: str,
        data: dict[str, Any] | None,
        target: str,
        timeout: float | None,
        idempotency_key: str | None,
        wait: float | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body: dict[str, Any] = {
            "operation": {"type": operation, "data": data or {}},
            "target": target,
        }
        if timeout is not None:
            body["timeout"] = timeout
        if dry_run:
            body["dry_run"] = True
        if wait is None:
            answer: dict[str, Any] = self._call("POST", "/job", json=body, headers=headers)
            return answer
        import httpx

        # The read may take the whole wait: give it room beyond the client's timeout.
        room = httpx.Timeout(self.http.timeout.connect, read=wait + (self.http.timeout.read or 0))
        params = {"wait": wait}
        return dict(
            self._call("POST", "/job", json=body, headers=headers, params=params, timeout=room)
        )

    def submit_batch(
        self, jobs: list[dict[str, Any]], idempotency_key: str | None = None
    ) -> list[str]:
        """Submit ``POST /job`` bodies in one request (``POST /job/batch``); ids in order."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        answer = self._call("POST", "/job/batch", json={"jobs": jobs}, headers=headers)
        return [str(job["job_id"]) for job in answer["jobs"]]

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/job/{job_id}")
        return result

    def jobs(self, status: str | None = None, limit: int = 20, offset: int = 0) -> Any:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return self._call("GET", "/job", params=params)

    def delete(self, job_id: str) -> None:
        self._call("DELETE", f"/job/{job_id}")

    def retry(self, job_id: str, target: str | None = None) -> str:
        """Retry on purpose: a fresh Idempotency-Key per call, so each call is a new job
        (without one the API deduplicates retries per source job and body)."""
        body = {"target": target} if target else {}
        headers = {"Idempotency-Key": f"cli-retry-{uuid.uuid4()}"}
        return str(self._call("POST", f"/job/{job_id}/retry", json=body, headers=headers)["job_id"])

    def cancel(self, job_id: str) -> Any:
        return self._call("POST", f"/job/{job_id}/cancel")

    def operations(self) -> Any:
        return self._call("GET", "/operation")

    def operation(self, name: str) -> Any:
        return self._call("GET", f"/operation/{name}")

    def agents(self) -> Any:
        return self._call("GET", "/agent")

    def wait(self, job_id: str, timeout: float = 60.0, every: float = 0.05) -> dict[str, Any]:
        """Poll the job detail until its status is final or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            detail = self.job(job_id)
            if detail["status"] in FINAL_STATUSES or time.monotonic() > deadline:
                return detail
            time.sleep(every)
