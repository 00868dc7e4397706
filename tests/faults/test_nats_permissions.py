"""The shipped per-user NATS permissions (deploy/nats/nats-server.conf) in use (promise 5).

The deployment's own config file runs the server, with its placeholder
password hashes swapped for plain test passwords and its example host
swapped for ours. A controller and an agent run with their own users; the
agent's user may speak only for its own host.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.js.api import ConsumerConfig

from common import subjects
from common.messages import Heartbeat, encode
from devstack.nats_server import start_nats
from tests.faults.cluster import Cluster, running_cluster
from tests.faults.procs import REPO
from tests.faults.test_bus import ghost_events

HOST = "perm-1.test"
OTHER = "perm-2.test"
EXAMPLE = "web-1~2Eexample~2Ecom"
PASSWORDS = {"controller": "controller-test-pw", "agent-web-1": "agent-test-pw"}


def locked_config(path: Path) -> Path:
    """The shipped file with test passwords and our host; everything else as shipped
    (start_nats moves its store directory and monitoring port to the test's)."""
    text = (REPO / "deploy" / "nats" / "nats-server.conf").read_text()
    text = text.replace(EXAMPLE, subjects.encode_token(HOST))
    for user, password in PASSWORDS.items():
        start = text.index(f"user: {user}\n")
        quoted = text.index('"', text.index("password:", start))
        end = text.index('"', quoted + 1)
        text = text[: quoted + 1] + password + text[end:]
    path.write_text(text)
    return path


def url_for(cluster: Cluster, user: str) -> str:
    return f"nats://{user}:{PASSWORDS[user]}@127.0.0.1:{cluster.nats.port}"


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path, locked_config(tmp_path / "nats.conf")) as cluster:
        cluster.bus_url = url_for(cluster, "controller")
        yield cluster


async def test_agents_run_jobs_with_their_own_user_and_speak_only_for_themselves(
    locked: Cluster,
) -> None:
    await locked.add_controller(nats_url=url_for(locked, "controller"))
    await locked.add_agent(HOST, nats_url=url_for(locked, "agent-web-1"))
    job_id = await locked.submit("test.ping", target=HOST, job_timeout=10)
    assert (await locked.final(job_id))["status"] == "completed"
    # _any jobs come through corral-any, which the agent binds to without
    # being allowed to create or change it.
    any_id = await locked.submit("test.ping", target="_any", job_timeout=10)
    assert (await locked.final(any_id))["status"] == "completed"

    errors: list[str] = []
    all_violations = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))
        if sum("permissions violation" in e.lower() for e in errors) >= 4:
            all_violations.set()

    impostor = await nats.connect(url_for(locked, "agent-web-1"), error_cb=on_error)
    try:
        js = impostor.jetstream()
        forged = ghost_events(job_id, OTHER)[2]
        with pytest.raises(nats.errors.Error):  # no PubAck: the server dropped it
            await js.publish(subjects.events_of(OTHER), encode(forged), timeout=2)
        with pytest.raises(nats.errors.Error):
            await js.publish(subjects.job_for_host(HOST), b"not a job", timeout=2)
        # Widening the shared consumer would hand this agent every job.
        widened = ConsumerConfig(durable_name=subjects.ANY_CONSUMER, filter_subject="corral.job.>")
        with pytest.raises(nats.errors.Error):  # no API reply: the request was dropped
            await js.add_consumer(subjects.JOBS_STREAM, widened, timeout=2)
        beat = Heartbeat(hostname=OTHER, sent_at=0, interval=1)
        await impostor.publish(subjects.heartbeat_of(OTHER), encode(beat))
        await impostor.flush()
        # nats-py runs error callbacks as tasks: the last -ERR can still be
        # queued after flush() returns, so wait for it rather than count early.
        try:
            await asyncio.wait_for(all_violations.wait(), timeout=10)
        except TimeoutError:
            pytest.fail(f"expected 4 permission violations, got {errors}")
    finally:
        await impostor.close()
    assert (await locked.api.get(f"/agent/{OTHER}")).status_code == 404
    shared = (
        await (await locked.bus())
        .jetstream()
        .consumer_info(subjects.JOBS_STREAM, subjects.ANY_CONSUMER)
    )
    assert shared.config.filter_subject == subjects.JOB_ANY


def test_the_shipped_config_runs_unchanged_with_our_store_and_ports(tmp_path: Path) -> None:
    """start_nats runs deploy/nats/nats-server.conf as shipped: its store_dir and
    monitoring port are the deployment's, so they move to the test's own."""
    shipped = REPO / "deploy" / "nats" / "nats-server.conf"
    before = shipped.read_text()
    server = start_nats(tmp_path / "nats", config_file=shipped)
    try:
        assert server.running
        assert (tmp_path / "nats" / "jetstream").is_dir()  # the store is ours
        assert "8222" not in server.argv[server.argv.index("-m") + 1]
        assert "-sd" not in server.argv  # the file names a store_dir: no clash
    finally:
        server.stop()
    assert shipped.read_text() == before
