"""Run a job on every agent and follow it live, with the corral SDK.

    CORRAL_URL=http://127.0.0.1:8080 CORRAL_API_KEY=... python examples/run_and_watch.py

Submits ``test.sleep`` to ``_all``, prints each agent's progress as the
controller folds it (``GET /job/{id}/events``), then the answers; then runs
``node.hostname.get`` synchronously (``POST /job?wait=``).
"""

from __future__ import annotations

import os
import sys

from common.detail import JobDetail
from corral_sdk.client import Client
from corral_sdk.errors import ApiError
from corral_sdk.sse import Final, Progress, Snapshot


def main() -> int:
    url = os.environ.get("CORRAL_URL", "http://127.0.0.1:8080")
    with Client(url, os.environ["CORRAL_API_KEY"]) as client:
        try:
            job = client.submit("test.sleep", {"seconds": 1}, target="_all")
        except ApiError as exc:
            print(f"refused: {exc.code} {exc.details}", file=sys.stderr)
            return 1
        for event in client.watch(job.job_id):
            if isinstance(event, Snapshot):
                print(f"job {job.job_id}: {event.detail.status}")
            elif isinstance(event, Progress) and event.agent is not None:
                print(f"  {event.agent.hostname}: {event.agent.state.status}")
            elif isinstance(event, Final):
                for host, answer in event.detail.responses.items():
                    print(f"  {host} -> {answer.status} {answer.data or answer.error or ''}")
                print(f"job {job.job_id}: {event.detail.status}")
        detail = client.run("node.hostname.get", wait=30)
        if isinstance(detail, JobDetail):
            print(f"node.hostname.get on {detail.hostname}: {detail.result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
