"""sysctl.*: live values from this kernel's /proc/sys, drop-ins under a temp root.

The stand-in never lets `sysctl -p` reach this machine's kernel; the live
values read are real, so the tests pick what to set from what is there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.operations.base import OperationFailed, OperationSkipped
from agent.operations.sysctl import parse
from common.operations.catalog import validate_params
from common.operations.declaration import OperationError
from tests.agent.operations.declared_run import make_host, on_host, run
from tests.standins import Answer, Standins, capture

DROP_IN = "etc/sysctl.d/90-corral-vm.swappiness.conf"


def live(key: str) -> str:
    return " ".join(Path("/proc/sys", key.replace(".", "/")).read_text().split())


@pytest.fixture
def standins(tmp_path: Path) -> Standins:
    standins = make_host(tmp_path)
    standins.add(
        "sysctl",
        Answer(("-p",), stdout=capture("sysctl/p-applied.txt")),
        otherwise=Answer(exit_code=2, stderr="unexpected call\n"),
    )
    return standins


def write(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)


async def test_list_reads_the_live_kernel_and_names_the_drop_in_that_wins(
    standins: Standins,
) -> None:
    root = standins.root
    write(root, "usr/lib/sysctl.d/50-default.conf", "vm.swappiness = 1\nkernel.pid_max = 1\n")
    write(root, "etc/sysctl.d/50-default.conf", "# hides /usr/lib's\nvm.swappiness = 2\n")
    write(
        root,
        "etc/sysctl.d/60-forward.conf",
        "; routing\n-net/ipv4/ip_forward=1\nnet.example.absent = 1\n",
    )
    write(root, "etc/sysctl.conf", "net.ipv4.ip_forward\t=   0\n")

    result = await run("sysctl.list", {}, on_host(standins))

    entries = {e["key"]: e for e in result.data["entries"]}
    assert len(entries) > 100  # the whole of /proc/sys that is readable
    assert entries["vm.swappiness"] == {
        "key": "vm.swappiness",
        "value": live("vm.swappiness"),
        "configured": "2",
        "set_by": "/etc/sysctl.d/50-default.conf",
    }
    assert entries["net.ipv4.ip_forward"]["configured"] == "0"
    assert entries["net.ipv4.ip_forward"]["set_by"] == "/etc/sysctl.conf"
    assert entries["net.example.absent"] == {
        "key": "net.example.absent",
        "configured": "1",
        "set_by": "/etc/sysctl.d/60-forward.conf",
    }
    assert "configured" not in entries["kernel.pid_max"]  # its file is hidden by /etc's
    assert "\t" not in entries["fs.file-nr"]["value"]  # tabs made single spaces
    assert result.changed is False


async def test_list_under_a_prefix_keeps_only_its_keys(standins: Standins) -> None:
    result = await run("sysctl.list", {"prefix": "net/ipv4"}, on_host(standins))
    keys = [e["key"] for e in result.data["entries"]]
    assert "net.ipv4.ip_forward" in keys
    assert all(key.startswith("net.ipv4.") for key in keys)


async def test_get_answers_the_live_value_and_corrals_drop_in(standins: Standins) -> None:
    write(standins.root, DROP_IN, "vm.swappiness = 7\n")
    result = await run("sysctl.get", {"key": "vm/swappiness"}, on_host(standins))
    assert result.data == {
        "key": "vm.swappiness",
        "value": live("vm.swappiness"),
        "drop_in": "7",
        "drop_in_file": "/etc/sysctl.d/90-corral-vm.swappiness.conf",
        "configured": "7",
        "set_by": "/etc/sysctl.d/90-corral-vm.swappiness.conf",
    }


async def test_get_of_a_key_the_kernel_lacks_fails(standins: Standins) -> None:
    with pytest.raises(OperationFailed, match=r"no readable key net\.example\.absent"):
        await run("sysctl.get", {"key": "net.example.absent"}, on_host(standins))


async def test_set_writes_the_drop_in_and_applies_it_with_sysctl_p(standins: Standins) -> None:
    wanted = parse(capture("sysctl/p-applied.txt"))["vm.swappiness"]
    before = live("vm.swappiness")
    if before == wanted:
        pytest.skip(f"this kernel already has vm.swappiness = {wanted}")

    result = await run(
        "sysctl.set", {"key": "vm.swappiness", "value": int(wanted)}, on_host(standins)
    )

    drop_in = standins.root / DROP_IN
    assert drop_in.read_text().endswith(f"\nvm.swappiness = {wanted}\n")
    assert drop_in.stat().st_mode & 0o777 == 0o644
    assert standins.calls("sysctl") == [["-p", str(drop_in)]]
    assert result.changed is True
    assert result.data["applied"] is True
    assert result.data["diff"] == {
        "before": {"live": before, "drop_in": None},
        "after": {"live": wanted, "drop_in": wanted},
    }
    assert live("vm.swappiness") == before  # the stand-in never reached the kernel


async def test_setting_the_live_value_twice_changes_only_the_first_time(
    standins: Standins,
) -> None:
    value = live("vm.swappiness")
    first = await run("sysctl.set", {"key": "vm.swappiness", "value": value}, on_host(standins))
    second = await run("sysctl.set", {"key": "vm.swappiness", "value": value}, on_host(standins))
    assert (first.changed, first.data["applied"]) == (True, False)  # the drop-in was new
    assert (second.changed, second.data["applied"]) == (False, False)
    assert second.data["diff"]["before"] == second.data["diff"]["after"]
    assert standins.calls("sysctl") == []  # the kernel already had it


async def test_a_dry_run_set_touches_nothing_and_shows_the_diff(standins: Standins) -> None:
    before = live("vm.swappiness")
    result = await run(
        "sysctl.set", {"key": "vm.swappiness", "value": "0"}, on_host(standins, dry_run=True)
    )
    assert not (standins.root / "etc").exists()
    assert standins.calls("sysctl") == []
    assert result.changed is True
    assert result.data["applied"] is False
    assert result.data["diff"] == {
        "before": {"live": before, "drop_in": None},
        "after": {"live": "0", "drop_in": "0"},
    }


async def test_a_value_sysctl_refuses_leaves_the_drop_in_as_it_was(standins: Standins) -> None:
    standins.add(
        "sysctl",
        Answer(("-p",), stderr=capture("sysctl/p-permission-denied.txt"), exit_code=255),
    )
    write(standins.root, DROP_IN, "vm.swappiness = 7\n")
    value = "0" if live("vm.swappiness") != "0" else "1"
    with pytest.raises(OperationFailed, match=r'permission denied on key "vm\.swappiness"'):
        await run("sysctl.set", {"key": "vm.swappiness", "value": value}, on_host(standins))
    assert (standins.root / DROP_IN).read_text() == "vm.swappiness = 7\n"


async def test_delete_removes_the_drop_in_and_says_the_live_value_stays(
    standins: Standins,
) -> None:
    write(standins.root, DROP_IN, "vm.swappiness = 7\n")
    dry = await run("sysctl.delete", {"key": "vm.swappiness"}, on_host(standins, dry_run=True))
    assert (dry.changed, (standins.root / DROP_IN).exists()) == (True, True)

    result = await run("sysctl.delete", {"key": "vm.swappiness"}, on_host(standins))
    assert not (standins.root / DROP_IN).exists()
    assert result.changed is True
    assert result.data["note"] == (
        f"the live value stays as it is until the next boot: {live('vm.swappiness')}"
    )
    assert result.data["diff"]["before"]["drop_in"] == "7"
    assert result.data["diff"]["after"]["drop_in"] is None
    again = await run("sysctl.delete", {"key": "vm.swappiness"}, on_host(standins))
    assert (again.changed, again.data["removed"]) == (False, False)


async def test_a_host_without_sysctl_is_skipped(standins: Standins, tmp_path: Path) -> None:
    ctx = on_host(standins, dry_run=True, path=str(tmp_path / "empty"))
    with pytest.raises(OperationSkipped, match="sysctl is not installed"):
        await run("sysctl.set", {"key": "vm.swappiness", "value": 1}, ctx)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"key": "vm..swappiness", "value": 1}, "operation.data: key has an empty"),
        ({"key": "vm swappiness", "value": 1}, "operation.data.key: must be dotted"),
        ({"key": "../etc", "value": 1}, "operation.data.key: must be dotted"),
        ({"key": "vm.swappiness", "value": "1\n2"}, "operation.data.value: must be one line"),
        ({"key": "vm.swappiness", "value": " "}, "operation.data.value: must be non-empty"),
        ({"key": "vm.swappiness", "value": 1.5}, r"operation.data.value: Expected `int \| str`"),
    ],
)
def test_bad_parameters_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(OperationError, match=message):
        validate_params("sysctl.set", data)
