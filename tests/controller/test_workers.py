"""``corral controller --workers N`` (controller/workers.py): N processes on one port.

The settings and the shared socket are checked in process; one test runs the
real command with two workers against real servers, SIGKILLs one worker and
sees the other go on serving, then stops the parent with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from bench.stack import children_of
from common.config import ControllerConfig
from controller.workers import (
    check_workers,
    exit_status,
    reusable_socket,
    worker_config,
)
from devstack.until import until
from tests.faults.cluster import ADMIN_KEY, running_cluster
from tests.faults.procs import CorralProcess

PING = {"operation": {"type": "test.ping", "data": {}}, "target": "_any", "timeout": 20}


def test_each_worker_gets_its_own_name_and_metrics_port() -> None:
    config = ControllerConfig(name="c", port=8080, metrics_port=9100)
    second = worker_config(config, 1)
    assert (second.name, second.metrics_port, second.port) == ("c-1", 9101, 8080)
    assert worker_config(ControllerConfig(metrics_port=0), 3).metrics_port == 0


def test_more_than_one_worker_needs_a_fixed_port() -> None:
    check_workers(ControllerConfig(port=0), 1)
    with pytest.raises(ValueError, match="fixed --port"):
        check_workers(ControllerConfig(port=0), 2)


def test_two_workers_sockets_share_one_port() -> None:
    first = reusable_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reusable_socket("127.0.0.1", port)
    try:
        first.listen()
        second.listen()
        assert second.getsockname() == ("127.0.0.1", port)
        # A socket without SO_REUSEPORT may not join them.
        plain = socket.socket()
        with pytest.raises(OSError, match="in use"):
            plain.bind(("127.0.0.1", port))
        plain.close()
    finally:
        first.close()
        second.close()


def test_a_worker_killed_by_a_signal_reports_as_a_shell_would() -> None:
    assert [exit_status(code) for code in (0, 3, -signal.SIGKILL, None)] == [0, 3, 137, 1]


async def submit_and_wait(port: int) -> dict[str, object]:
    """POST /job?wait= on a new connection: the kernel picks the worker anew."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=30,
    ) as client:
        response = await client.post("/job?wait=20", json=PING)
    assert response.status_code == 201, response.text
    detail: dict[str, object] = response.json()
    return detail


def ready_workers(parent: CorralProcess) -> set[int]:
    return {line["worker"] for line in parent.events("controller_ready")}


@pytest.mark.slow
async def test_two_workers_serve_and_one_survives_the_others_death(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_cluster(tmp_path) as cluster:
        # The controller command reads --workers from CORRAL_WORKERS too.
        monkeypatch.setenv("CORRAL_WORKERS", "2")
        parent = await cluster.add_controller()
        monkeypatch.delenv("CORRAL_WORKERS")
        await until(lambda: ready_workers(parent) == {0, 1}, "both workers ready")
        workers = children_of(parent.pid)
        assert len(workers) == 2
        await cluster.add_agent("w-1.test")
        port = cluster.api_port

        for _ in range(4):
            assert (await submit_and_wait(port))["status"] == "completed"

        os.kill(workers[0], signal.SIGKILL)
        await until(lambda: bool(parent.events("controller_worker_exited")), "worker 0 gone")
        [exited] = parent.events("controller_worker_exited")
        assert (exited["pid"], exited["status"], exited["still_running"]) == (workers[0], 137, 1)
        for _ in range(6):
            detail = await submit_and_wait(port)
            assert detail["status"] == "completed"
            assert detail["result"] == {"pong": True}

        parent.stop()
        assert parent.process is not None
        # The survivor stopped cleanly; the parent reports the worker that was killed.
        assert parent.process.returncode == 137
        assert children_of(parent.pid) == []
        stopped = {
            line["pid"]: line["status"] for line in parent.events("controller_worker_stopped")
        }
        assert stopped == {workers[1]: 0}
