"""The shipped per-user NATS permissions (deploy/nats/nats-server.conf) in use (promise 5).

The deployment's own config file runs the server, filled in as an operator
would: plain test passwords for its placeholder hashes, our host for its
example host, and a copy of the agent block for a second host (as its "Next
host" comment says). A controller and two agents run with their own users.
An agent's user may speak only for its own host, and read only what is
addressed to it: the test tries every way to read another host's job with
one agent's credentials, and each is denied while the other host's agent
receives that job.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from common import subjects
from common.messages import ConsumerRequest, Heartbeat, encode
from devstack.nats_server import start_nats
from devstack.until import ConditionTimeout, until
from tests.faults.cluster import Cluster, running_cluster
from tests.faults.procs import REPO
from tests.faults.test_bus import ghost_events

HOST = "perm-1.test"
OTHER = "perm-2.test"
EXAMPLE = "web-1~2Eexample~2Ecom"
USERS = {HOST: "agent-web-1", OTHER: "agent-web-2"}
PASSWORDS = {
    "controller": "controller-test-pw",
    "agent-web-1": "agent-test-pw",
    "agent-web-2": "agent-2-test-pw",
}
SHIPPED = REPO / "deploy" / "nats" / "nats-server.conf"
AGENT_BLOCK = "      {\n        # One user per agent host"
NEXT_HOST = "      # Next host:"


def locked_config(path: Path) -> Path:
    """The shipped file filled in; everything else as shipped (start_nats moves
    its store directory and monitoring port to the test's)."""
    text = SHIPPED.read_text()
    block = text[text.index(AGENT_BLOCK) : text.index(NEXT_HOST)]
    second = block.replace(EXAMPLE, subjects.encode_token(OTHER)).replace(
        f"user: {USERS[HOST]}\n", f"user: {USERS[OTHER]}\n"
    )
    text = text.replace(NEXT_HOST, second + NEXT_HOST, 1)
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
        await cluster.add_controller(nats_url=url_for(cluster, "controller"))
        yield cluster


async def add_agent(cluster: Cluster, hostname: str, **labels: str) -> Any:
    return await cluster.add_agent(hostname, labels, nats_url=url_for(cluster, USERS[hostname]))


def no_violations(agent: Any) -> bool:
    """The agent needed nothing its user may not do."""
    errors = [e["error"] for e in agent.events("nats_error")]
    return not [error for error in errors if "permissions violation" in error.lower()]


class Spy:
    """A NATS client with one agent's credentials and inbox prefix: what a root
    attacker on that agent's host can do. Records what the server refused and
    every message it was given."""

    def __init__(self) -> None:
        self.refused: list[str] = []
        self.received: list[Msg] = []
        self.nc = NATS()

    async def connect(self, url: str, hostname: str) -> NATS:
        async def on_error(exc: Exception) -> None:
            self.refused.append(str(exc).lower())

        await self.nc.connect(
            url, error_cb=on_error, inbox_prefix=subjects.inbox_prefix(hostname), name="spy"
        )
        return self.nc

    async def listen(self, subject: str) -> None:
        async def keep(msg: Msg) -> None:
            self.received.append(msg)

        await self.nc.subscribe(subject, cb=keep)

    def was_refused(self, *fragments: str) -> bool:
        """A permissions violation naming every fragment (nats-py lowercases it)."""
        return any(
            "permissions violation" in line and all(f.lower() in line for f in fragments)
            for line in self.refused
        )


async def test_agents_run_jobs_with_their_own_user_and_speak_only_for_themselves(
    locked: Cluster,
) -> None:
    agent = await add_agent(locked, HOST, role="web.prod")
    # Every way a job reaches an agent, under its user alone: its own consumer
    # (host, _all, a label it declared) and the shared corral-any.
    for target in (HOST, "_any", "_all", "role:web"):
        job_id = await locked.submit("test.ping", target=target, job_timeout=10)
        detail = await locked.final(job_id)
        assert (detail["status"], set(detail["agent_states"])) == ("completed", {HOST}), target
    # A cancel request reaches it on corral.control.cancel.
    running = await locked.submit("test.sleep", {"seconds": 60}, target=HOST, job_timeout=120)
    await locked.agent_reached(running, HOST, {"started"})
    assert (await locked.api.post(f"/job/{running}/cancel")).status_code == 202
    await until(lambda: bool(agent.events("job_cancelled")), "the agent stopped the job")
    assert (await locked.final(running))["status"] == "cancelled"
    # A synchronous submit wakes on the change feed the controller's user may use.
    waited = await locked.api.post(
        "/job?wait=10", json={"operation": {"type": "test.ping"}, "target": HOST}
    )
    assert (waited.status_code, waited.json()["status"]) == (201, "completed")
    assert no_violations(agent)
    assert all(no_violations(c) for c in locked.controllers.values())

    spy = Spy()
    impostor = await spy.connect(url_for(locked, USERS[HOST]), HOST)
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
        await until(
            lambda: spy.was_refused(subjects.heartbeat_of(OTHER)), "the heartbeat refused", 10
        )
        assert spy.was_refused(subjects.events_of(OTHER))
        assert spy.was_refused(subjects.job_for_host(HOST))
        assert spy.was_refused("consumer", subjects.ANY_CONSUMER)
    finally:
        await impostor.close()
    assert (await locked.api.get(f"/agent/{OTHER}")).status_code == 404
    shared = (
        await (await locked.bus())
        .jetstream()
        .consumer_info(subjects.JOBS_STREAM, subjects.ANY_CONSUMER)
    )
    assert shared.config.filter_subject == subjects.JOB_ANY


async def test_an_agents_credentials_cannot_read_another_hosts_job(locked: Cluster) -> None:
    await add_agent(locked, HOST)
    other = await add_agent(locked, OTHER)
    # The other host's agent is down: its job waits in its consumer for it.
    await asyncio.to_thread(other.kill)
    canary = f"for-{OTHER}-only-{uuid.uuid4().hex}"
    job_id = await locked.submit("test.echo", {"data": canary}, target=OTHER, job_timeout=60)

    spy = Spy()
    nc = await spy.connect(url_for(locked, USERS[HOST]), HOST)
    try:
        await try_every_way_in(spy, nc)

        def allowed() -> list[tuple[str, ...]]:
            return [fragments for fragments in DENIED if not spy.was_refused(*fragments)]

        try:
            await until(lambda: not allowed(), "every way refused", 10)
        except ConditionTimeout:
            pytest.fail(f"not refused: {allowed()}; refused: {spy.refused}")

        # The other agent comes back and gets its job through its own inbox.
        await other.launch()
        detail = await locked.final(job_id)
        assert detail["status"] == "completed"
        assert detail["responses"][OTHER]["data"] == canary
        assert spy.received == [], [m.subject for m in spy.received]
        assert no_violations(other)
    finally:
        await nc.close()
    js = (await locked.bus()).jetstream()
    mine = await js.consumer_info(subjects.JOBS_STREAM, subjects.agent_consumer(HOST))
    assert mine.config.filter_subjects == subjects.agent_job_subjects(HOST, {})
    names = {info.name for info in await js.consumers_info(subjects.JOBS_STREAM)}
    assert names == {subjects.ANY_CONSUMER, *map(subjects.agent_consumer, (HOST, OTHER))}


OTHER_CONSUMER = subjects.agent_consumer(OTHER)
# What the server must refuse, as fragments of its violation message.
DENIED: list[tuple[str, ...]] = [
    ("subscription", subjects.job_for_host(OTHER)),
    ("subscription", subjects.JOBS_SUBJECTS),
    ("subscription", subjects.inbox_prefix(OTHER)),
    ("subscription", '"_inbox.>"'),  # the controller's replies
    ("publish", f"consumer.msg.next.{subjects.JOBS_STREAM}.{OTHER_CONSUMER}"),
    ("publish", f"create.{subjects.JOBS_STREAM}.{subjects.agent_consumer(HOST)}"),
    ("publish", f"consumer.create.{subjects.JOBS_STREAM}.spy"),
    ("publish", f"stream.msg.get.{subjects.JOBS_STREAM}"),
    ("publish", f"direct.get.{subjects.JOBS_STREAM}"),
    ("publish", subjects.consumer_request_of(OTHER)),
]


async def try_every_way_in(spy: Spy, nc: NATS) -> None:
    """Subscribe, pull, create consumers, get messages: each way of reading
    another host's job with this agent's credentials."""
    for subject in (
        subjects.job_for_host(OTHER),
        subjects.JOBS_SUBJECTS,
        f"{subjects.inbox_prefix(OTHER)}.>",
        "_INBOX.>",
    ):
        await spy.listen(subject)
    inbox = nc.new_inbox()  # its own: allowed, and where a pull would deliver
    await spy.listen(inbox)
    next_other = f"$JS.API.CONSUMER.MSG.NEXT.{subjects.JOBS_STREAM}.{OTHER_CONSUMER}"
    await nc.publish(next_other, b'{"batch":10,"expires":2000000000}', reply=inbox)
    js = nc.jetstream(timeout=2)
    other_jobs = subjects.job_for_host(OTHER)
    attempts = [
        # Its own consumer, filtered on the other host; a new one on every job.
        js.add_consumer(
            subjects.JOBS_STREAM,
            ConsumerConfig(durable_name=subjects.agent_consumer(HOST), filter_subject=other_jobs),
            timeout=2,
        ),
        js.add_consumer(
            subjects.JOBS_STREAM,
            ConsumerConfig(name="spy", filter_subject=subjects.JOBS_SUBJECTS),
            timeout=2,
        ),
        js.get_msg(subjects.JOBS_STREAM, subject=other_jobs),
        js.get_msg(subjects.JOBS_STREAM, seq=1, direct=True),
        # The controller would derive the other host's filter from this subject.
        nc.request(subjects.consumer_request_of(OTHER), encode(ConsumerRequest()), timeout=2),
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    # Dropped by the server: no JetStream error (that would mean it got through).
    assert all(isinstance(r, nats.errors.TimeoutError) for r in results), results
    await nc.flush()


def test_the_cluster_accounts_grant_what_the_single_node_config_grants() -> None:
    cluster = (REPO / "deploy" / "nats" / "cluster" / "accounts.conf").read_text()
    single = SHIPPED.read_text()
    assert cluster[cluster.index("accounts {") :] == single[single.index("accounts {") :]


def test_the_shipped_config_runs_unchanged_with_our_store_and_ports(tmp_path: Path) -> None:
    """start_nats runs deploy/nats/nats-server.conf as shipped: its store_dir and
    monitoring port are the deployment's, so they move to the test's own."""
    before = SHIPPED.read_text()
    server = start_nats(tmp_path / "nats", config_file=SHIPPED)
    try:
        assert server.running
        assert (tmp_path / "nats" / "jetstream").is_dir()  # the store is ours
        assert "8222" not in server.argv[server.argv.index("-m") + 1]
        assert "-sd" not in server.argv  # the file names a store_dir: no clash
    finally:
        server.stop()
    assert SHIPPED.read_text() == before


async def test_an_agents_user_reads_objects_and_cannot_write_them(tmp_path: Path) -> None:
    """file.deploy content: the agent's reader (agent/objects.py) needs only the
    message gets its user is given; an upload with its credentials is refused."""
    from agent.objects import BucketObjects
    from controller.streams import ensure_streams

    server = start_nats(tmp_path / "nats", config_file=locked_config(tmp_path / "nats.conf"))
    controller = await nats.connect(url_for_port(server.port, "controller"))
    spy = Spy()
    agent = await spy.connect(url_for_port(server.port, USERS[HOST]), HOST)
    try:
        await ensure_streams(controller.jetstream())
        store = await controller.jetstream().object_store(subjects.OBJECTS_BUCKET)
        await store.put("app.conf", b"x" * 300_000)
        assert [info.name for info in await store.list()] == ["app.conf"]
        assert await BucketObjects(agent.jetstream()).get("app.conf") == b"x" * 300_000
        js = agent.jetstream(timeout=1)
        with pytest.raises(nats.errors.Error):
            await js.publish(subjects.object_chunks("forged"), b"y")
        await agent.flush()
        assert spy.was_refused("publish", "$o.corral_objects.c.forged")
    finally:
        await agent.close()
        await controller.close()
        server.stop()


def url_for_port(port: int, user: str) -> str:
    return f"nats://{user}:{PASSWORDS[user]}@127.0.0.1:{port}"
