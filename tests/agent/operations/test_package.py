"""The ``package.*`` handlers against stand-in apt and dnf under a temporary host root.

apt runs as an emulation over real-format files (tests/standins/packages.py):
the root's dpkg status file and apt lists, so an install shows in the next
query. dnf answers with its reproduced output. The host path holds only the
stand-ins, so the machine's own apt-get can never run here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from agent.operations.registry import HANDLERS
from common.operations.catalog import OPERATIONS, validate_params
from common.operations.declaration import OperationError
from tests.standins import Answer, Standins, capture
from tests.standins.packages import EFFECTS, STATUS, debian_with_apt


async def run(op_type: str, data: dict[str, Any], ctx: OperationContext) -> tuple[Any, bool]:
    result = await HANDLERS[op_type](validate_params(op_type, data), ctx)
    msgspec.convert(result.data, OPERATIONS[op_type].result, strict=True)  # as declared
    return result.data, result.changed


def context(standins: Standins, dry_run: bool = False) -> OperationContext:
    return OperationContext(
        hostname="h", timeout=10, host=Host(standins.root, standins.only), dry_run=dry_run
    )


@pytest.fixture
def apt(tmp_path: Path) -> Standins:
    return debian_with_apt(tmp_path)


@pytest.fixture
def dnf(tmp_path: Path) -> Standins:
    root = tmp_path / "root"
    root.mkdir()
    standins = Standins.create(tmp_path, root)
    standins.add(
        "dnf",
        Answer(("info",), effect=f"{EFFECTS}:dnf_info"),
        Answer(("install",), effect=f"{EFFECTS}:dnf_install"),
        Answer(("check-update",), stdout=capture("dnf/check-update.txt"), exit_code=100),
        Answer(("makecache",), stdout=capture("dnf/makecache.txt")),
    )
    standins.add(
        "rpm",
        Answer(("-qa",), stdout=capture("rpm/qa.txt")),
        Answer(("-q",), stdout=capture("rpm/q-upgradable.txt"), exit_code=1),
    )
    return standins


# -- apt ----------------------------------------------------------------------


async def test_apt_lists_installed_packages_and_leaves_removed_ones_out(apt: Standins) -> None:
    apt.add("dpkg-query", Answer(("-W",), stdout=capture("dpkg-query/installed.txt")))
    data, changed = await run("package.list", {"pattern": "lib*"}, context(apt))
    assert (data["manager"], changed) == ("apt", False)
    assert data["packages"] == [
        {"name": "libc6", "version": "2.36-9+deb12u14", "architecture": "amd64"},
        {"name": "libssl3", "version": "3.0.19-1~deb12u2", "architecture": "amd64"},
    ]
    (call,) = apt.calls("dpkg-query")
    assert call[0] == "-W"
    assert "${db:Status-Status}" in call[1]


async def test_apt_get_reads_the_installed_and_candidate_versions(apt: Standins) -> None:
    policy = capture("apt-cache/policy-bash-hello-unknown.txt")
    apt.add("apt-cache", Answer(("policy",), stdout=policy))
    data, _ = await run("package.get", {"name": "bash"}, context(apt))
    assert (data["installed"], data["candidate"]) == ("5.2.15-2+b8", "5.2.15-2+b13")
    data, _ = await run("package.get", {"name": "hello"}, context(apt))
    assert (data["installed"], data["candidate"]) == (None, "2.10-3")
    data, _ = await run("package.get", {"name": "corral-no-such-package"}, context(apt))
    assert (data["installed"], data["candidate"]) == (None, None)


async def test_an_install_installs_what_is_missing_once(apt: Standins) -> None:
    data, changed = await run("package.install", {"names": ["hello", "bash"]}, context(apt))
    assert changed
    assert data["diff"] == {
        "before": {"hello": None, "bash": "5.2.15-2+b8"},
        "after": {"hello": "2.10-3", "bash": "5.2.15-2+b8"},
    }
    assert data["command"][:4] == ["apt-get", "install", "-y", "-q"]
    assert data["command"][-1] == "hello"  # bash is there already
    assert "Package: hello\nStatus: install ok installed\n" in (apt.root / STATUS).read_text()

    again, changed = await run("package.install", {"names": ["hello", "bash"]}, context(apt))
    assert not changed
    assert again["command"] is None
    assert again["diff"]["before"] == again["diff"]["after"] == data["diff"]["after"]
    assert len(apt.calls("apt-get")) == 1  # the installer ran once


async def test_an_install_at_a_version_installed_already_runs_nothing(apt: Standins) -> None:
    data, changed = await run(
        "package.install", {"names": ["bash"], "versions": {"bash": "5.2.15-2+b8"}}, context(apt)
    )
    assert (changed, data["command"]) == (False, None)
    assert apt.calls("apt-get") == []


async def test_a_dry_run_install_says_what_it_would_install_and_touches_nothing(
    apt: Standins,
) -> None:
    status = (apt.root / STATUS).read_bytes()
    data, changed = await run(
        "package.install",
        {"names": ["nginx", "hello"], "versions": {"hello": "2.10-3"}},
        context(apt, dry_run=True),
    )
    assert changed
    assert data["diff"]["after"] == {"nginx": "1.22.1-9+deb12u11", "hello": "2.10-3"}
    assert data["command"][-2:] == ["nginx", "hello=2.10-3"]
    assert apt.calls("apt-get") == []
    assert (apt.root / STATUS).read_bytes() == status


async def test_installing_a_package_no_source_has_fails_before_running_apt(apt: Standins) -> None:
    with pytest.raises(OperationFailed, match="no apt source has corral-nope"):
        await run("package.install", {"names": ["hello", "corral-nope"]}, context(apt))
    assert apt.calls("apt-get") == []


async def test_a_removal_removes_once_and_the_record_stays_as_config_files(apt: Standins) -> None:
    dry, changed = await run("package.remove", {"names": ["bash"]}, context(apt, dry_run=True))
    assert changed
    assert dry["diff"]["after"] == {"bash": None}
    assert apt.calls("apt-get") == []
    data, changed = await run("package.remove", {"names": ["bash", "hello"]}, context(apt))
    assert changed
    assert data["diff"] == {
        "before": {"bash": "5.2.15-2+b8", "hello": None},
        "after": {"bash": None, "hello": None},
    }
    assert data["command"] == ["apt-get", "remove", "-y", "-q", "bash"]
    assert "Status: deinstall ok config-files" in (apt.root / STATUS).read_text()
    listed, _ = await run("package.list", {}, context(apt))
    assert listed["packages"] == []
    _, changed = await run("package.remove", {"names": ["bash"]}, context(apt))
    assert not changed
    assert len(apt.calls("apt-get")) == 1


async def test_a_refresh_is_a_change_only_when_a_source_sent_something(apt: Standins) -> None:
    data, changed = await run("package.refresh", {}, context(apt))
    assert changed
    assert data["fetched"][0] == "http://deb.debian.org/debian bookworm-updates InRelease"
    assert len(data["fetched"]) == 3
    apt.add("apt-get", Answer(("update",), stdout=capture("apt-get/update-current.txt")))
    data, changed = await run("package.refresh", {}, context(apt))
    assert (changed, data["fetched"]) == (False, [])
    dry, changed = await run("package.refresh", {}, context(apt, dry_run=True))
    assert (changed, dry["command"]) == (True, ["apt-get", "update"])
    assert len(apt.calls("apt-get")) == 2


async def test_apt_lists_upgradable_packages(apt: Standins) -> None:
    data, _ = await run("package.upgradable", {}, context(apt))
    bash = next(p for p in data["packages"] if p["name"] == "bash")
    assert bash == {
        "name": "bash",
        "architecture": "amd64",
        "installed": "5.2.15-2+b8",
        "candidate": "5.2.15-2+b13",
        "source": "oldstable",
    }
    assert len(data["packages"]) == 7


# -- dnf ----------------------------------------------------------------------


async def test_dnf_lists_with_epochs_and_installs_once(dnf: Standins) -> None:
    listed, _ = await run("package.list", {"pattern": "[gno]*"}, context(dnf))
    assert listed["manager"] == "dnf"
    assert {p["name"]: (p["version"], p["architecture"]) for p in listed["packages"]} == {
        "gpg-pubkey": ("8483c65d-5ccc5b19", ""),
        "nginx-filesystem": ("2:1.20.1-14.el9_2.1", "noarch"),
        "openssl": ("1:3.0.7-16.el9_2", "x86_64"),
        "openssl-libs": ("1:3.0.7-16.el9_2", "x86_64"),
    }
    got, _ = await run("package.get", {"name": "bash"}, context(dnf))
    assert (got["installed"], got["candidate"]) == ("5.1.8-6.el9_1", "5.1.8-9.el9")

    data, changed = await run("package.install", {"names": ["nginx", "bash"]}, context(dnf))
    assert changed
    assert data["command"] == ["dnf", "install", "-y", "-q", "nginx"]
    assert data["diff"]["after"] == {"nginx": "2:1.20.1-14.el9_2.1", "bash": "5.1.8-6.el9_1"}
    versions = {"nginx": "1.20.1"}  # without epoch and release, as people write it
    _, changed = await run(
        "package.install", {"names": ["nginx"], "versions": versions}, context(dnf)
    )
    assert not changed
    assert [c[0] for c in dnf.calls("dnf")] == ["info", "info", "install", "info", "info"]


async def test_dnf_upgradable_minds_exit_code_100_and_wrapped_names(dnf: Standins) -> None:
    data, _ = await run("package.upgradable", {}, context(dnf))
    assert [(p["name"], p["installed"], p["candidate"]) for p in data["packages"]] == [
        ("bash", "5.1.8-6.el9_1", "5.1.8-9.el9"),
        ("kernel", "5.14.0-284.11.1.el9_2", "5.14.0-362.18.1.el9_3"),
        ("openssl", "1:3.0.7-16.el9_2", "1:3.0.7-25.el9_3"),
        ("python3-dnf-plugin-post-transaction-actions", None, "4.3.0-5.el9"),
    ]
    dnf.add(
        "dnf", Answer(("check-update",), stderr="Error: Failed to download metadata\n", exit_code=1)
    )
    with pytest.raises(OperationFailed, match="dnf check-update exited with 1: Error: Failed"):
        await run("package.upgradable", {}, context(dnf))


async def test_dnf_refresh_reports_the_repositories_it_downloaded(dnf: Standins) -> None:
    data, changed = await run("package.refresh", {}, context(dnf))
    assert changed
    assert data["fetched"] == [
        "Rocky Linux 9 - BaseOS",
        "Rocky Linux 9 - AppStream",
        "Rocky Linux 9 - Extras",
    ]
    dnf.add("dnf", Answer(("makecache",), stdout=capture("dnf/makecache-current.txt")))
    _, changed = await run("package.refresh", {}, context(dnf))
    assert not changed


# -- neither, and bad input ---------------------------------------------------


@pytest.mark.parametrize("op_type", sorted(n for n in OPERATIONS if n.startswith("package.")))
async def test_a_host_without_apt_or_dnf_is_skipped(op_type: str, tmp_path: Path) -> None:
    needed: dict[str, dict[str, Any]] = {
        "package.get": {"name": "bash"},
        "package.install": {"names": ["bash"]},
        "package.remove": {"names": ["bash"]},
    }
    data = needed.get(op_type, {})
    ctx = OperationContext(
        hostname="h", timeout=10, host=Host(tmp_path, str(tmp_path)), dry_run=True
    )
    with pytest.raises(OperationSkipped, match="apt-get or dnf is not installed"):
        await run(op_type, data, ctx)


@pytest.mark.parametrize(
    ("op_type", "data", "message"),
    [
        (
            "package.install",
            {"names": ["ok", "-oAPT::x"]},
            r"operation.data.names\[1\]: Expected `str` matching regex",
        ),
        ("package.install", {"names": []}, "operation.data.names: Expected `array` of length >= 1"),
        ("package.install", {"names": ["a", "a"]}, "operation.data.names: must not repeat"),
        ("package.install", {"names": ["a"], "versions": {"b": "1"}}, "versions names 'b'"),
        (
            "package.install",
            {"names": ["a"], "versions": {"a": "1 2"}},
            r"operation.data.versions\[...\]: Expected `str` matching",
        ),
        ("package.get", {"name": "bash; rm"}, "operation.data.name: Expected `str` matching regex"),
        (
            "package.list",
            {"pattern": "a b"},
            "operation.data.pattern: Expected `str` matching regex",
        ),
    ],
)
def test_bad_parameters_name_the_field(op_type: str, data: dict[str, Any], message: str) -> None:
    with pytest.raises(OperationError, match=message):
        validate_params(op_type, data)
