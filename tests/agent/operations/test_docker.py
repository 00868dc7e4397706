"""The docker handlers against a fake Docker Engine on a unix socket under a temp root.

The fake (tests/fakes/docker_engine.py) speaks the Engine API's HTTP and JSON
and records every request: a dry run must leave ``mutations()`` empty. Each
handler's result is converted, strictly, to the type its declaration names.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.operations import registry
from agent.operations.base import OperationContext
from agent.operations.docker_images import pull_reference
from agent.operations.errors import OperationFailed, OperationSkipped
from agent.operations.host import Host
from common.operations.catalog import BUILTIN, validate_params
from common.operations.declaration import OperationError, OperationResult
from common.redaction import REDACTED
from tests.fakes.docker_engine import FakeEngine, short_root

DOCKER = sorted(name for name in BUILTIN if name.startswith("docker."))
WEB = {
    "name": "web",
    "image": "nginx:1.25",
    "env": {"DB_PASSWORD": "s3cret"},
    "ports": [{"container_port": 80, "host_port": 8080}],
    "volumes": [{"source": "/srv/www", "target": "/usr/share/nginx/html", "read_only": True}],
    "labels": {"app": "web"},
    "restart": "unless-stopped",
}


@pytest.fixture
async def engine() -> AsyncIterator[FakeEngine]:
    with short_root() as root:
        fake = FakeEngine(root)
        async with fake.serving():
            yield fake


async def run(
    name: str,
    data: dict[str, Any],
    root: Path,
    *,
    dry_run: bool = False,
    max_output_bytes: int = 65536,
) -> OperationResult:
    ctx = OperationContext(
        hostname="h",
        timeout=15,
        host=Host(root),
        dry_run=dry_run,
        max_output_bytes=max_output_bytes,
    )
    result = await registry.BUILTIN_HANDLERS[name](validate_params(name, data), ctx)
    msgspec.convert(result.data, BUILTIN[name].result, strict=True)
    return result


async def created(engine: FakeEngine, **changes: Any) -> OperationResult:
    if not engine.images:
        engine.add_image("nginx:1.25")
    return await run("docker.container.create", {**WEB, **changes}, engine.root)


# -- the daemon ------------------------------------------------------------------


@pytest.mark.parametrize("name", DOCKER)
@pytest.mark.parametrize("dry_run", [False, True])
async def test_a_host_without_the_socket_skips_every_operation(
    name: str, dry_run: bool, tmp_path: Path
) -> None:
    data = dict(BUILTIN[name].example)
    with pytest.raises(OperationSkipped, match=r"^no docker socket at /var/run/docker\.sock$"):
        await run(name, data, tmp_path, dry_run=dry_run)


async def test_a_daemon_older_than_api_1_44_fails_naming_both_versions() -> None:
    with short_root() as root:
        async with FakeEngine(root, api_version="1.43").serving():
            with pytest.raises(
                OperationFailed, match=r"speaks Engine API 1\.43 at most; corral needs 1\.44"
            ):
                await run("docker.container.list", {}, root)


async def test_a_daemon_that_dropped_api_1_44_fails_too() -> None:
    with short_root() as root:
        async with FakeEngine(root, api_version="1.52", min_api_version="1.45").serving():
            with pytest.raises(OperationFailed, match=r"1\.45 at least; corral speaks 1\.44"):
                await run("docker.image.list", {}, root)


async def test_a_socket_nobody_listens_on_fails_rather_than_skips() -> None:
    with short_root() as root:
        path = root / "var/run/docker.sock"
        path.parent.mkdir(parents=True)
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(path))  # the file stays; nothing accepts on it
        stale.close()
        with pytest.raises(OperationFailed, match="cannot talk to the Docker daemon"):
            await run("docker.container.list", {}, root)


async def test_every_request_names_the_pinned_api_version(engine: FakeEngine) -> None:
    await run("docker.container.list", {}, engine.root)
    assert [(r.path, r.version) for r in engine.requests] == [
        ("/version", None),
        ("/containers/json", "1.44"),
    ]


@pytest.mark.parametrize("name", DOCKER)
@pytest.mark.parametrize("dry_run", [False, True])
async def test_each_operations_example_runs_and_its_result_converts(
    name: str, dry_run: bool, engine: FakeEngine
) -> None:
    """What test_registry.py does for the operations this host can run for real."""
    engine.add_image("nginx:1.25")
    engine.publish("nginx:1.25")
    if name.startswith("docker.container.") and name != "docker.container.create":
        await run("docker.container.create", {"name": "web", "image": "nginx:1.25"}, engine.root)
        await run("docker.container.start", {"container": "web"}, engine.root)
    await run(name, dict(BUILTIN[name].example), engine.root, dry_run=dry_run)


# -- docker.container.create -----------------------------------------------------


async def test_create_makes_the_container_once_then_reports_no_change(engine: FakeEngine) -> None:
    first = await created(engine)
    assert first.changed is True
    assert first.data["action"] == "created"
    (container,) = engine.containers.values()
    assert first.data["id"] == container.id
    assert container.name == "/web"
    assert "DB_PASSWORD=s3cret" in container.config["Env"]
    assert "NGINX_VERSION=1.25.5" in container.config["Env"]  # the image's, laid under
    assert container.host_config == {
        "Binds": ["/srv/www:/usr/share/nginx/html:ro"],
        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
    }
    assert container.status == "created"  # create does not start
    engine.requests.clear()
    second = await created(engine)
    assert (second.changed, second.data["action"], second.data["differences"]) == (
        False,
        "unchanged",
        [],
    )
    assert engine.mutations() == []
    assert second.data["diff"]["before"] == second.data["diff"]["after"]


async def test_create_shows_env_names_with_masked_values(engine: FakeEngine) -> None:
    result = await created(engine)
    assert result.data["diff"]["before"] is None
    after = result.data["diff"]["after"]
    assert after["env"]["DB_PASSWORD"] == REDACTED
    assert after["ports"] == ["8080:80/tcp"]
    assert after["volumes"] == ["/srv/www:/usr/share/nginx/html:ro"]
    assert b"s3cret" not in msgspec.json.encode(result)


async def test_a_dry_run_create_says_what_it_would_make_and_calls_nothing(
    engine: FakeEngine,
) -> None:
    engine.add_image("nginx:1.25")
    result = await run("docker.container.create", WEB, engine.root, dry_run=True)
    assert (result.changed, result.data["action"], result.data["id"]) == (True, "created", None)
    assert result.data["diff"]["after"]["image"] == "nginx:1.25"
    assert engine.containers == {}
    assert engine.mutations() == []


async def test_create_without_the_image_fails_and_does_not_pull(engine: FakeEngine) -> None:
    with pytest.raises(OperationFailed, match=r"image nginx:1\.25 is not on this host: pull it"):
        await run("docker.container.create", WEB, engine.root)
    assert engine.mutations() == []


async def test_a_different_config_fails_naming_the_difference_without_secret_values(
    engine: FakeEngine,
) -> None:
    await created(engine)
    changed = {"env": {"DB_PASSWORD": "new-s3cret"}, "ports": [], "restart": "always"}
    with pytest.raises(OperationFailed) as failure:
        await created(engine, **changed)
    message = failure.value.message
    assert "exists with another configuration" in message
    assert "set recreate" in message
    assert "env: DB_PASSWORD differ" in message
    assert "ports: ['8080:80/tcp'] wanted []" in message
    assert "restart: 'unless-stopped' wanted 'always'" in message
    assert "s3cret" not in message
    assert len(engine.containers) == 1


async def test_leaving_a_setting_out_is_a_difference_but_the_image_defaults_are_not(
    engine: FakeEngine,
) -> None:
    await created(engine)
    # No command given both times: the image's CMD on both sides. The env
    # left out now: DB_PASSWORD differs, the image's own variables do not.
    with pytest.raises(OperationFailed, match=r"\(env: DB_PASSWORD differ\)"):
        await created(engine, env=None)


async def test_recreate_replaces_a_different_container_and_keeps_it_running(
    engine: FakeEngine,
) -> None:
    first = await created(engine)
    await run("docker.container.start", {"container": "web"}, engine.root)
    engine.requests.clear()
    dry = await created(engine, labels={"app": "web", "tier": "front"}, recreate=True)
    # ...that was a real run: recreate with a new label.
    assert (dry.changed, dry.data["action"]) == (True, "recreated")
    assert dry.data["differences"] == ["labels: tier differ"]
    (container,) = engine.containers.values()
    assert container.id == dry.data["id"] != first.data["id"]
    assert container.running
    assert [m.split(" ")[0] + " " + m.split("/")[-1] for m in engine.mutations()] == [
        "POST stop",
        f"DELETE {first.data['id']}",
        "POST create",
        "POST start",
    ]


async def test_a_dry_run_recreate_changes_nothing(engine: FakeEngine) -> None:
    first = await created(engine)
    engine.requests.clear()
    result = await run(
        "docker.container.create",
        {**WEB, "restart": "always", "recreate": True},
        engine.root,
        dry_run=True,
    )
    assert (result.changed, result.data["action"]) == (True, "recreated")
    assert result.data["diff"]["before"]["restart"] == "unless-stopped"
    assert result.data["diff"]["after"]["restart"] == "always"
    assert list(engine.containers) == [first.data["id"]]
    assert engine.mutations() == []


async def test_a_tag_pulled_anew_is_a_difference(engine: FakeEngine) -> None:
    await created(engine)
    engine.publish("nginx:1.25")
    await run("docker.image.pull", {"image": "nginx:1.25", "always": True}, engine.root)
    with pytest.raises(
        OperationFailed, match=r"image: nginx:1\.25 is now sha256:\w+, the container runs"
    ):
        await created(engine)


# -- start, stop, remove -------------------------------------------------------


async def test_start_then_start_again_is_unchanged(engine: FakeEngine) -> None:
    await created(engine)
    first = await run("docker.container.start", {"container": "web"}, engine.root)
    assert first.changed is True
    assert first.data["diff"] == {"before": "created", "after": "running"}
    assert first.data["name"] == "web"
    again = await run("docker.container.start", {"container": "web"}, engine.root)
    assert again.changed is False
    assert again.data["diff"] == {"before": "running", "after": "running"}


async def test_stop_passes_its_timeout_and_a_second_stop_is_unchanged(engine: FakeEngine) -> None:
    await created(engine)
    await run("docker.container.start", {"container": "web"}, engine.root)
    stopped = await run("docker.container.stop", {"container": "web", "timeout": 3}, engine.root)
    assert (stopped.changed, stopped.data["diff"]) == (
        True,
        {"before": "running", "after": "exited"},
    )
    (stop,) = [r for r in engine.requests if r.path.endswith("/stop")]
    assert stop.query == {"t": ["3"]}
    again = await run("docker.container.stop", {"container": "web"}, engine.root)
    assert again.changed is False


async def test_a_stop_timeout_longer_than_the_job_fails_up_front(engine: FakeEngine) -> None:
    with pytest.raises(OperationFailed, match="does not fit in the job's 15s"):
        await run("docker.container.stop", {"container": "web", "timeout": 30}, engine.root)


async def test_a_dry_run_start_or_stop_reports_the_change_and_calls_nothing(
    engine: FakeEngine,
) -> None:
    await created(engine)
    engine.requests.clear()
    start = await run("docker.container.start", {"container": "web"}, engine.root, dry_run=True)
    assert (start.changed, start.data["diff"]) == (True, {"before": "created", "after": "running"})
    stop = await run("docker.container.stop", {"container": "web"}, engine.root, dry_run=True)
    assert stop.changed is False
    assert engine.mutations() == []
    assert not engine.container("web").running


async def test_start_of_an_unknown_container_fails(engine: FakeEngine) -> None:
    with pytest.raises(OperationFailed, match="no such container: db"):
        await run("docker.container.start", {"container": "db"}, engine.root)


async def test_remove_refuses_a_running_container_unless_forced(engine: FakeEngine) -> None:
    first = await created(engine)
    await run("docker.container.start", {"container": "web"}, engine.root)
    with pytest.raises(OperationFailed, match="is running: stop it first, or set force"):
        await run("docker.container.remove", {"container": "web"}, engine.root)
    engine.requests.clear()
    dry = await run(
        "docker.container.remove", {"container": "web", "force": True}, engine.root, dry_run=True
    )
    assert (dry.changed, dry.data["diff"]) == (True, {"before": "running", "after": None})
    assert engine.mutations() == []
    removed = await run("docker.container.remove", {"container": "web", "force": True}, engine.root)
    assert (removed.changed, removed.data["id"]) == (True, first.data["id"])
    assert engine.containers == {}
    again = await run("docker.container.remove", {"container": "web"}, engine.root)
    assert (again.changed, again.data) == (
        False,
        {"id": None, "diff": {"before": None, "after": None}},
    )


# -- exec ------------------------------------------------------------------------


async def running_web(engine: FakeEngine) -> None:
    await created(engine)
    await run("docker.container.start", {"container": "web"}, engine.root)


async def test_exec_captures_both_streams_and_the_exit_code(engine: FakeEngine) -> None:
    await running_web(engine)
    engine.exec_answers[("nginx", "-t")] = (
        b"",
        b"nginx: configuration file /etc/nginx/nginx.conf test failed\n",
        1,
    )
    result = await run(
        "docker.container.exec",
        {"container": "web", "argv": ["nginx", "-t"], "env": {"TOKEN": "t0k"}, "user": "nginx"},
        engine.root,
    )
    assert result.changed is True
    assert result.data == {
        "stdout": "",
        "stderr": "nginx: configuration file /etc/nginx/nginx.conf test failed\n",
        "exit_code": 1,
        "stdout_truncated": False,
        "stderr_truncated": False,
    }
    (create,) = [r for r in engine.requests if r.path.endswith("/exec")]
    assert create.json() == {
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": False,
        "Cmd": ["nginx", "-t"],
        "Env": ["TOKEN=t0k"],
        "User": "nginx",
    }


async def test_exec_output_is_capped(engine: FakeEngine) -> None:
    await running_web(engine)
    result = await run(
        "docker.container.exec",
        {"container": "web", "argv": ["echo", "a" * 100]},
        engine.root,
        max_output_bytes=10,
    )
    assert (result.data["stdout"], result.data["stdout_truncated"]) == ("a" * 10, True)
    assert result.data["exit_code"] == 0


async def test_a_dry_run_exec_says_what_it_would_run_without_secret_values(
    engine: FakeEngine,
) -> None:
    await running_web(engine)
    engine.requests.clear()
    data = {"container": "web", "argv": ["env"], "env": {"TOKEN": "t0k"}, "workdir": "/tmp"}
    result = await run("docker.container.exec", data, engine.root, dry_run=True)
    assert result.changed is False
    assert result.data == {
        "would_run": {
            "container": "web",
            "argv": ["env"],
            "env": ["TOKEN"],
            "workdir": "/tmp",
            "user": None,
        }
    }
    assert engine.mutations() == []


async def test_exec_in_a_stopped_container_fails(engine: FakeEngine) -> None:
    await created(engine)
    with pytest.raises(OperationFailed, match="container web is not running"):
        await run("docker.container.exec", {"container": "web", "argv": ["true"]}, engine.root)


# -- reads -------------------------------------------------------------------------


async def test_list_filters_by_state_label_and_name(engine: FakeEngine) -> None:
    await running_web(engine)
    await created(engine, name="worker", labels={"app": "worker"}, ports=[])

    async def names(**data: Any) -> list[str]:
        result = await run("docker.container.list", data, engine.root)
        return sorted(c["name"] for c in result.data["containers"])

    assert await names() == ["web"]
    assert await names(all=True) == ["web", "worker"]
    assert await names(all=True, labels=["app=worker"]) == ["worker"]
    assert await names(all=True, labels=["app"]) == ["web", "worker"]
    assert await names(all=True, name="work") == ["worker"]
    sent = engine.requests[-1]
    assert json.loads(sent.query["filters"][0]) == {"name": ["work"]}
    assert sent.query["all"] == ["1"]


async def test_inspect_names_env_variables_but_never_their_values(engine: FakeEngine) -> None:
    await running_web(engine)
    result = await run("docker.container.inspect", {"container": "web"}, engine.root)
    data = result.data
    assert (data["name"], data["image"], data["state"]["status"]) == (
        "web",
        "nginx:1.25",
        "running",
    )
    assert data["env"] == ["DB_PASSWORD", "NGINX_VERSION", "PATH"]
    assert data["ports"] == ["8080:80/tcp"]
    assert data["restart"] == "unless-stopped"
    assert data["command"] == ["nginx", "-g", "daemon off;"]
    assert b"s3cret" not in msgspec.json.encode(result)


async def test_image_list_filters_by_reference(engine: FakeEngine) -> None:
    engine.add_image("nginx:1.25")
    engine.add_image("redis:7")
    result = await run("docker.image.list", {"reference": "nginx:*"}, engine.root)
    assert [i["tags"] for i in result.data["images"]] == [["nginx:1.25"]]
    everything = await run("docker.image.list", {}, engine.root)
    assert len(everything.data["images"]) == 2


# -- images ------------------------------------------------------------------------


async def test_pull_brings_an_image_once(engine: FakeEngine) -> None:
    engine.publish("nginx:1.25")
    first = await run("docker.image.pull", {"image": "nginx:1.25"}, engine.root)
    assert first.changed is True
    assert first.data["status"] == "Status: Downloaded newer image for nginx:1.25"
    assert first.data["diff"] == {
        "before": None,
        "after": {"image": "nginx:1.25", "id": first.data["id"]},
    }
    engine.requests.clear()
    second = await run("docker.image.pull", {"image": "nginx:1.25"}, engine.root)
    assert (second.changed, second.data["id"]) == (False, first.data["id"])
    assert engine.mutations() == []


async def test_pull_always_is_changed_when_the_tag_names_another_image(engine: FakeEngine) -> None:
    old = engine.add_image("nginx:1.25")
    engine.publish("nginx:1.25")
    result = await run("docker.image.pull", {"image": "nginx:1.25", "always": True}, engine.root)
    assert result.changed is True
    assert result.data["diff"]["before"] == {"image": "nginx:1.25", "id": old.id}
    assert result.data["id"] != old.id


async def test_pull_without_a_tag_pulls_latest_never_every_tag(engine: FakeEngine) -> None:
    engine.publish("nginx:latest")
    result = await run("docker.image.pull", {"image": "nginx"}, engine.root)
    assert result.data["image"] == "nginx:latest"
    (pull,) = [r for r in engine.requests if r.method == "POST"]
    assert pull.query == {"fromImage": ["nginx"], "tag": ["latest"]}


async def test_a_dry_run_pull_calls_nothing(engine: FakeEngine) -> None:
    engine.publish("nginx:1.25")
    result = await run("docker.image.pull", {"image": "nginx:1.25"}, engine.root, dry_run=True)
    assert result.changed is True
    assert result.data["diff"] == {"before": None, "after": {"image": "nginx:1.25", "id": None}}
    assert engine.images == {}
    assert engine.mutations() == []


async def test_a_pull_docker_refuses_or_breaks_off_fails_with_dockers_words(
    engine: FakeEngine,
) -> None:
    with pytest.raises(OperationFailed, match="docker: pull access denied for nosuch"):
        await run("docker.image.pull", {"image": "nosuch:1"}, engine.root)
    engine.registry["flaky:1"] = None
    with pytest.raises(OperationFailed, match="pulling flaky:1: unexpected EOF"):
        await run("docker.image.pull", {"image": "flaky:1"}, engine.root)


async def test_removing_one_of_two_tags_untags_and_keeps_the_image(engine: FakeEngine) -> None:
    image = engine.add_image("nginx:1.25")
    image.tags.append("nginx:stable")
    dry = await run("docker.image.remove", {"image": "nginx:stable"}, engine.root, dry_run=True)
    assert dry.data["diff"]["after"] == {"id": image.id, "tags": ["nginx:1.25"]}
    assert engine.mutations() == []
    result = await run("docker.image.remove", {"image": "nginx:stable"}, engine.root)
    assert (result.changed, result.data["untagged"], result.data["deleted"]) == (
        True,
        ["nginx:stable"],
        [],
    )
    assert result.data["diff"]["after"] == {"id": image.id, "tags": ["nginx:1.25"]}


async def test_removing_an_image_a_container_uses_needs_force(engine: FakeEngine) -> None:
    await created(engine)
    (image,) = engine.images.values()
    with pytest.raises(OperationFailed, match="must force"):
        await run("docker.image.remove", {"image": "nginx:1.25"}, engine.root)
    result = await run("docker.image.remove", {"image": "nginx:1.25", "force": True}, engine.root)
    assert (result.changed, result.data["deleted"], result.data["diff"]["after"]) == (
        True,
        [image.id],
        None,
    )
    again = await run("docker.image.remove", {"image": "nginx:1.25"}, engine.root)
    assert again.changed is False


# -- parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("docker.container.start", {"container": "../../etc"}, "container: must match"),
        ("docker.container.start", {"container": "/web"}, "container: must match"),
        (
            "docker.container.create",
            {"name": "web", "image": "nginx", "volumes": [{"source": "./d", "target": "/d"}]},
            r"volumes\[0\].source must be an absolute path or a volume name",
        ),
        ("docker.container.start", {"container": ""}, "operation.data.container: Expected"),
        ("docker.container.create", {"name": "web", "image": "Nginx"}, "image: must be an image"),
        ("docker.container.create", {"name": "a b", "image": "nginx"}, "name: must match"),
        (
            "docker.container.create",
            {"name": "web", "image": "nginx", "ports": [{"container_port": 70000}]},
            r"operation.data.ports\[0\].container_port: Expected `int` <= 65535",
        ),
        (
            "docker.container.create",
            {"name": "web", "image": "nginx", "volumes": [{"source": "v", "target": "data"}]},
            r"volumes\[0\].target must be an absolute path",
        ),
        (
            "docker.container.create",
            {"name": "web", "image": "nginx", "restart_retries": 3},
            "restart_retries needs restart: on-failure",
        ),
        ("docker.container.exec", {"container": "web", "argv": []}, "operation.data.argv"),
        (
            "docker.container.exec",
            {"container": "web", "argv": ["ls"], "env": {"A=B": "c"}},
            "env name 'A=B'",
        ),
        ("docker.container.list", {"labels": [" x"]}, r"labels\[0\]: must be key or key=value"),
        ("docker.image.pull", {"image": "nginx:../x"}, "image: must be an image reference"),
        ("docker.image.remove", {"image": "nginx", "forse": True}, "unknown field `forse`"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(
    name: str, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(OperationError, match=message):
        validate_params(name, data)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ("nginx", "latest", "nginx:latest")),
        ("nginx:1.25", ("nginx", "1.25", "nginx:1.25")),
        ("localhost:5000/app", ("localhost:5000/app", "latest", "localhost:5000/app:latest")),
        ("localhost:5000/app:2", ("localhost:5000/app", "2", "localhost:5000/app:2")),
        (f"app@sha256:{'a' * 64}", ("app", f"sha256:{'a' * 64}", f"app@sha256:{'a' * 64}")),
    ],
)
def test_a_pull_reference_always_has_a_tag_or_digest(
    image: str, expected: tuple[str, str, str]
) -> None:
    assert pull_reference(image) == expected
