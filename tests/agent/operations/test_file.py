"""The ``file.*`` handlers on a temporary host root with real-format account files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from agent.operations import file
from agent.operations.base import OperationContext, OperationFailed
from agent.operations.diff import BINARY as BINARY_DIFF
from agent.operations.diff import unified
from agent.operations.host import Host
from common.operations.catalog import validate_params
from common.operations.declaration import OperationError, OperationResult

UID, GID = os.geteuid(), os.getegid()
# Debian's format. "deploy" is whoever runs the test, so chown needs no root;
# listed first, so its name wins for its id even when the test runs as root.
PASSWD = f"""deploy:x:{UID}:{GID}:Deploy,,,:/home/deploy:/bin/bash
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
"""
GROUP = f"""deployers:x:{GID}:deploy
root:x:0:
daemon:x:1:
www-data:x:33:
"""
OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
"""
BINARY = bytes(range(256))


class Objects:
    """The object store as a handler sees it (agent/objects.py reads the real one)."""

    def __init__(self, **objects: bytes) -> None:
        self.objects = objects

    async def get(self, name: str) -> bytes:
        if name not in self.objects:
            raise OperationFailed(f"no object named {name!r} in the object store")
        return self.objects[name]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    etc = tmp_path / "root" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    (etc / "os-release").write_text(OS_RELEASE)
    return tmp_path / "root"


def context(root: Path, *, dry_run: bool = False, **objects: bytes) -> OperationContext:
    return OperationContext(
        hostname="web-1.example",
        timeout=10,
        host=Host(root),
        dry_run=dry_run,
        objects=Objects(**objects),
    )


async def run(name: str, data: dict[str, Any], ctx: OperationContext) -> OperationResult:
    handler = file.HANDLERS[name]
    return await handler(validate_params(name, data), ctx)


def records(root: Path) -> dict[str, Any]:
    files: dict[str, Any] = json.loads((root / "var/lib/corral/files.json").read_text())["files"]
    return files


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def test_a_deploy_writes_mode_and_owner_then_changes_nothing(root: Path) -> None:
    data = {"path": "/etc/app.conf", "content": "a = 1\n", "mode": "0640", "owner": "deploy"}
    data["group"] = "deployers"
    first = await run("file.deploy", data, context(root))
    target = root / "etc/app.conf"
    assert target.read_text() == "a = 1\n"
    info = target.stat()
    assert (info.st_mode & 0o7777, info.st_uid, info.st_gid) == (0o640, UID, GID)
    assert first.changed is True
    assert first.data["sha256"] == sha(b"a = 1\n")
    assert first.data["diff"] == "--- /dev/null\n+++ b/etc/app.conf\n@@ -0,0 +1 @@\n+a = 1\n"
    assert records(root) == {"/etc/app.conf": {"sha256": sha(b"a = 1\n")}}
    assert (root / "var/lib/corral/files.json").stat().st_mode & 0o777 == 0o600

    again = await run("file.deploy", data, context(root))
    assert (again.changed, again.data["diff"]) == (False, "")


async def test_a_dry_run_reports_the_diff_and_touches_nothing(root: Path) -> None:
    await run("file.deploy", {"path": "/etc/app.conf", "content": "a = 1\nb = 2"}, context(root))
    before = records(root)
    result = await run(
        "file.deploy",
        {"path": "/etc/app.conf", "content": "a = 1\nb = 3"},
        context(root, dry_run=True),
    )
    assert result.changed is True
    assert result.data["diff"].splitlines()[3:] == [
        " a = 1",
        "-b = 2",
        "\\ No newline at end of file",
        "+b = 3",
        "\\ No newline at end of file",
    ]
    assert (root / "etc/app.conf").read_text() == "a = 1\nb = 2"
    assert records(root) == before


async def test_a_template_sees_the_hosts_facts_and_nothing_else(root: Path) -> None:
    source = "{{ hostname }} runs {{ facts.os.id }} {{ facts.os.version_id }} on {{ facts.arch }}\n"
    result = await run(
        "file.deploy", {"path": "/etc/motd", "content": source, "template": True}, context(root)
    )
    written = (root / "etc/motd").read_text()
    assert written.startswith("web-1.example runs debian 12 on ")
    assert result.data["sha256"] == sha(written.encode())
    with pytest.raises(OperationFailed, match="UndefinedError: 'nope' is undefined"):
        await run(
            "file.deploy",
            {"path": "/etc/x", "content": "{{ nope }}", "template": True},
            context(root),
        )
    escape = "{{ ''.__class__.__mro__ }}"
    with pytest.raises(OperationFailed, match="SecurityError"):
        await run(
            "file.deploy", {"path": "/etc/x", "content": escape, "template": True}, context(root)
        )
    assert not (root / "etc/x").exists()


async def test_an_object_is_written_only_with_the_sha256_the_job_names(root: Path) -> None:
    data = {"path": "/usr/local/bin/tool", "object": "tool", "sha256": sha(BINARY)}
    result = await run("file.deploy", {**data, "mode": "0755"}, context(root, tool=BINARY))
    assert (root / "usr/local/bin/tool").read_bytes() == BINARY
    assert (result.changed, result.data["diff"]) == (True, BINARY_DIFF)

    other = {"path": "/etc/other", "object": "tool", "sha256": sha(b"something else")}
    with pytest.raises(
        OperationFailed, match=f"has sha256 {sha(BINARY)}, not {sha(b'something else')}"
    ):
        await run("file.deploy", other, context(root, tool=BINARY))
    with pytest.raises(OperationFailed, match="no object named 'gone'"):
        await run("file.deploy", {**data, "object": "gone"}, context(root))
    without_store = OperationContext(hostname="h", timeout=10, host=Host(root))
    with pytest.raises(OperationFailed, match="no object store"):
        await run("file.deploy", data, without_store)
    assert not (root / "etc/other").exists()


async def test_an_unknown_owner_or_group_fails_naming_the_hosts_file(root: Path) -> None:
    with pytest.raises(OperationFailed, match=r"no user named 'nginx' in /etc/passwd"):
        await run("file.deploy", {"path": "/etc/a", "content": "", "owner": "nginx"}, context(root))
    with pytest.raises(OperationFailed, match=r"group 'web' does not exist"):
        await run("file.deploy", {"path": "/etc/a", "content": "", "group": "web"}, context(root))
    assert not (root / "etc/a").exists()


async def test_status_tells_deployed_drifted_unmanaged_and_absent(root: Path) -> None:
    async def state(path: str) -> dict[str, Any]:
        result = await run("file.status", {"path": path}, context(root))
        data: dict[str, Any] = result.data
        return data

    assert (await state("/etc/app.conf"))["state"] == "absent"
    await run(
        "file.deploy", {"path": "/etc/app.conf", "content": "x\n", "mode": "0600"}, context(root)
    )
    deployed = await state("/etc/app.conf")
    assert deployed == {
        "path": "/etc/app.conf",
        "state": "deployed",
        "sha256": sha(b"x\n"),
        "deployed_sha256": sha(b"x\n"),
        "mode": "0600",
        "owner": "deploy",
        "group": "deployers",
    }
    (root / "etc/app.conf").write_text("edited\n")
    drifted = await state("/etc/app.conf")
    assert (drifted["state"], drifted["sha256"]) == ("drifted", sha(b"edited\n"))
    assert (await state("/etc/passwd"))["state"] == "unmanaged"


async def test_undeploy_removes_the_file_and_its_record_once(root: Path) -> None:
    await run("file.deploy", {"path": "/etc/app.conf", "content": "x\n"}, context(root))
    dry = await run("file.undeploy", {"path": "/etc/app.conf"}, context(root, dry_run=True))
    assert (dry.changed, dry.data["diff"].splitlines()[-1]) == (True, "-x")
    assert (root / "etc/app.conf").exists()
    assert "/etc/app.conf" in records(root)

    removed = await run("file.undeploy", {"path": "/etc/app.conf"}, context(root))
    assert removed.changed is True
    assert not (root / "etc/app.conf").exists()
    assert records(root) == {}
    again = await run("file.undeploy", {"path": "/etc/app.conf"}, context(root))
    assert (again.changed, again.data["diff"]) == (False, "")


async def test_undeploy_refuses_a_file_corral_never_deployed(root: Path) -> None:
    with pytest.raises(OperationFailed, match="was not deployed by corral; nothing removed"):
        await run("file.undeploy", {"path": "/etc/passwd"}, context(root))
    assert (root / "etc/passwd").read_text() == PASSWD


async def test_the_record_itself_is_not_a_file_to_deploy_or_remove(root: Path) -> None:
    for name, data in (("file.deploy", {"content": "{}"}), ("file.undeploy", {})):
        with pytest.raises(OperationFailed, match="corral's own record"):
            await run(name, {"path": file.RECORDS, **data}, context(root))


async def test_a_record_corral_did_not_write_fails_instead_of_being_replaced(root: Path) -> None:
    (root / "var/lib/corral").mkdir(parents=True)
    (root / "var/lib/corral/files.json").write_text("[1, 2]")
    with pytest.raises(OperationFailed, match=r"files\.json is not a record corral wrote"):
        await run("file.deploy", {"path": "/etc/a", "content": "x"}, context(root))


def test_a_long_diff_is_cut_to_the_limit() -> None:
    diff = unified("/f", b"", b"line\n" * 1000, limit=100)
    assert diff.endswith("\n[diff truncated]\n")
    assert len(diff) < 100 + 20


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"path": "etc/a", "content": ""}, "path: must be an absolute path"),
        ({"path": "/etc/../a", "content": ""}, "path: must name a file without '..'"),
        ({"path": "/", "content": ""}, "path: must name a file"),
        ({"path": "/a"}, "content or object: give exactly one"),
        ({"path": "/a", "content": "", "object": "o", "sha256": "0" * 64}, "exactly one"),
        ({"path": "/a", "object": "o"}, "sha256: must be given with object"),
        ({"path": "/a", "content": "", "sha256": "0" * 64}, "sha256: must be given with object"),
        ({"path": "/a", "object": "../o", "sha256": "0" * 64}, "object: must match"),
        ({"path": "/a", "object": "o", "sha256": "ABC"}, "sha256: must be 64 lower-case hex"),
        ({"path": "/a", "content": "", "mode": "644x"}, "mode: must be 3 or 4 octal digits"),
        ({"path": "/a", "content": "", "mode": 644}, "operation.data.mode: Expected `str | null`"),
        ({"path": "/a", "content": "", "owner": "a b"}, "owner: must be a user or group name"),
        ({"path": "/a", "content": "", "secnods": 1}, "operation.data: Object contains unknown"),
    ],
)
def test_bad_deploy_params_are_refused_naming_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(OperationError, match=message.replace(".", r"\.").replace("|", r"\|")):
        validate_params("file.deploy", data)
