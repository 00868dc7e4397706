"""network.interface.create|update|delete and network.route.create|delete (network_config.py).

On a temp root holding a real cloud-init netplan file, with recording
stand-ins for ``netplan`` and ``nmcli``: the files are asserted on as
written, and the tools' calls as recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from agent.operations.registry import HANDLERS
from common.operations.catalog import OPERATIONS, validate_params
from common.operations.declaration import OperationError, OperationResult
from tests.standins import Answer, Standins, capture

DROP_IN = "etc/netplan/90-corral-eth1.yaml"
KEYFILE = "etc/NetworkManager/system-connections/corral-eth1.nmconnection"
ETH1: dict[str, Any] = {
    "name": "eth1",
    "addresses": ["192.0.2.10/24"],
    "gateway": "192.0.2.1",
    "mtu": 1500,
}


def make_host(tmp_path: Path, *tools: str) -> tuple[Path, Standins, Host]:
    root = tmp_path / "root"
    (root / "etc/netplan").mkdir(parents=True)
    (root / "etc/netplan/50-cloud-init.yaml").write_text(capture("netplan/50-cloud-init.yaml"))
    standins = Standins.create(tmp_path, root)
    for tool in tools:
        standins.add(tool)
    return root, standins, Host(root, standins.only)


async def run(
    op: str, data: dict[str, Any], host: Host, *, dry_run: bool = False
) -> OperationResult:
    ctx = OperationContext(hostname="h", timeout=10, host=host, dry_run=dry_run)
    result = await HANDLERS[op](validate_params(op, data), ctx)
    msgspec.convert(result.data, OPERATIONS[op].result, strict=True)  # as declared
    return result


async def test_create_writes_a_netplan_drop_in_and_applies_it_once(tmp_path: Path) -> None:
    root, standins, host = make_host(tmp_path, "netplan")
    data = {**ETH1, "nameservers": ["192.0.2.53"]}
    first = await run("network.interface.create", data, host)
    assert first.changed is True
    written = (root / DROP_IN).read_text()
    assert written.startswith("# Written by corral")
    assert yaml.safe_load(written) == {
        "network": {
            "version": 2,
            "ethernets": {
                "eth1": {
                    "dhcp4": False,
                    "addresses": ["192.0.2.10/24"],
                    "routes": [{"to": "default", "via": "192.0.2.1"}],
                    "mtu": 1500,
                    "nameservers": {"addresses": ["192.0.2.53"]},
                }
            },
        }
    }
    assert (root / DROP_IN).stat().st_mode & 0o777 == 0o600
    assert first.data["diff"].startswith("--- /dev/null\n+++ b/etc/netplan/90-corral-eth1.yaml")
    assert first.data["settings"]["gateway"] == "192.0.2.1"
    assert standins.calls("netplan") == [["apply"]]
    neighbour = (root / "etc/netplan/50-cloud-init.yaml").read_text()
    assert neighbour == capture("netplan/50-cloud-init.yaml")

    again = await run("network.interface.create", data, host)
    assert (again.changed, again.data["diff"]) == (False, "")
    assert standins.calls("netplan") == [["apply"]]


async def test_a_dry_run_create_writes_and_applies_nothing(tmp_path: Path) -> None:
    root, standins, host = make_host(tmp_path, "netplan")
    result = await run("network.interface.create", ETH1, host, dry_run=True)
    assert result.changed is True
    assert "+      mtu: 1500\n" in result.data["diff"]
    assert not (root / DROP_IN).exists()
    assert standins.calls("netplan") == []


async def test_create_refuses_to_overwrite_another_configuration(tmp_path: Path) -> None:
    root, _, host = make_host(tmp_path, "netplan")
    await run("network.interface.create", ETH1, host)
    before = (root / DROP_IN).read_text()
    with pytest.raises(OperationFailed, match=r"already configures eth1 otherwise.*update"):
        await run("network.interface.create", {**ETH1, "mtu": 9000}, host)
    assert (root / DROP_IN).read_text() == before


async def test_update_changes_only_the_fields_given(tmp_path: Path) -> None:
    root, standins, host = make_host(tmp_path, "netplan")
    await run("network.interface.create", ETH1, host)
    result = await run("network.interface.update", {"name": "eth1", "mtu": 9000}, host)
    assert result.changed is True
    assert "-      mtu: 1500\n+      mtu: 9000\n" in result.data["diff"]
    assert result.data["settings"] == {
        "addresses": ["192.0.2.10/24"],
        "gateway": "192.0.2.1",
        "dhcp4": False,
        "mtu": 9000,
        "nameservers": [],
        "routes": [],
    }
    to_dhcp = {"name": "eth1", "dhcp4": True, "addresses": [], "gateway": ""}
    dhcp = await run("network.interface.update", to_dhcp, host)
    settings = dhcp.data["settings"]
    assert (settings["dhcp4"], settings["addresses"], settings["gateway"]) == (True, [], None)
    again = await run("network.interface.update", to_dhcp, host)
    assert again.changed is False
    assert standins.calls("netplan") == [["apply"]] * 3
    interface = yaml.safe_load((root / DROP_IN).read_text())["network"]["ethernets"]["eth1"]
    assert interface == {"dhcp4": True, "mtu": 9000}


async def test_update_of_an_interface_corral_does_not_configure_fails(tmp_path: Path) -> None:
    _, _, host = make_host(tmp_path, "netplan")
    with pytest.raises(
        OperationFailed, match=r"does not configure eth1.*network\.interface\.create"
    ):
        await run("network.interface.update", {"name": "eth1", "mtu": 9000}, host)


async def test_routes_join_the_interfaces_drop_in(tmp_path: Path) -> None:
    root, standins, host = make_host(tmp_path, "netplan")
    route = {"interface": "eth1", "destination": "10.0.0.0/8", "gateway": "192.0.2.254"}
    with pytest.raises(OperationFailed, match="configure it first"):
        await run("network.route.create", route, host)
    await run("network.interface.create", ETH1, host)
    added = await run("network.route.create", {**route, "metric": 100}, host)
    assert added.changed is True
    interface = yaml.safe_load((root / DROP_IN).read_text())["network"]["ethernets"]["eth1"]
    assert interface["routes"] == [
        {"to": "default", "via": "192.0.2.1"},
        {"to": "10.0.0.0/8", "via": "192.0.2.254", "metric": 100},
    ]
    assert (await run("network.route.create", {**route, "metric": 100}, host)).changed is False
    replaced = await run("network.route.create", route, host)  # the same destination: replaced
    assert replaced.data["settings"]["routes"] == [
        {"to": "10.0.0.0/8", "via": "192.0.2.254", "metric": None}
    ]
    # An interface update keeps the routes; so does a create that says the same.
    await run("network.interface.update", {"name": "eth1", "mtu": 9000}, host)
    assert (
        len(
            (await run("network.interface.create", {**ETH1, "mtu": 9000}, host)).data["settings"][
                "routes"
            ]
        )
        == 1
    )
    deleted = await run(
        "network.route.delete", {"interface": "eth1", "destination": "10.0.0.0/8"}, host
    )
    assert (deleted.changed, deleted.data["settings"]["routes"]) == (True, [])
    gone = {"interface": "eth1", "destination": "10.0.0.0/8"}
    assert (await run("network.route.delete", gone, host)).changed is False
    assert len(standins.calls("netplan")) == 5


async def test_delete_removes_the_drop_in_once(tmp_path: Path) -> None:
    root, standins, host = make_host(tmp_path, "netplan")
    await run("network.interface.create", ETH1, host)
    dry = await run("network.interface.delete", {"name": "eth1"}, host, dry_run=True)
    assert dry.changed is True
    assert "-      mtu: 1500\n" in dry.data["diff"]
    assert (root / DROP_IN).exists()
    deleted = await run("network.interface.delete", {"name": "eth1"}, host)
    assert (deleted.changed, deleted.data["settings"]) == (True, None)
    assert not (root / DROP_IN).exists()
    assert (root / "etc/netplan/50-cloud-init.yaml").exists()
    assert (await run("network.interface.delete", {"name": "eth1"}, host)).changed is False
    route = {"interface": "eth1", "destination": "10.0.0.0/8"}
    assert (await run("network.route.delete", route, host)).changed is False
    assert standins.calls("netplan") == [["apply"], ["apply"]]


async def test_a_refused_apply_puts_the_old_file_back(tmp_path: Path) -> None:
    root, standins, host = make_host(tmp_path, "netplan")
    await run("network.interface.create", ETH1, host)
    before = (root / DROP_IN).read_text()
    said = capture("netplan/apply-error.stderr.txt")
    standins.add("netplan", Answer(("apply",), stderr=said, exit_code=1))
    with pytest.raises(
        OperationFailed,
        match=r"netplan apply exited with 1: .*Error in network definition: eth1: .* was put back",
    ):
        await run("network.interface.update", {"name": "eth1", "mtu": 9000}, host)
    assert (root / DROP_IN).read_text() == before
    with pytest.raises(OperationFailed, match="was put back"):
        await run("network.interface.create", {"name": "eth2", "dhcp4": True}, host)
    assert not (root / "etc/netplan/90-corral-eth2.yaml").exists()


async def test_a_hand_broken_drop_in_is_reported_not_guessed_at(tmp_path: Path) -> None:
    root, _, host = make_host(tmp_path, "netplan")
    (root / DROP_IN).write_text("network: [this is not\n")
    with pytest.raises(OperationFailed, match=r"90-corral-eth1\.yaml: not corral's netplan layout"):
        await run("network.interface.update", {"name": "eth1", "mtu": 9000}, host)


async def test_without_netplan_networkmanager_gets_a_keyfile(tmp_path: Path) -> None:
    root, standins, host = make_host(tmp_path, "nmcli")
    standins.add("nmcli", Answer(("connection", "up"), stdout=capture("nmcli/connection-up.txt")))
    data = {
        **ETH1,
        "addresses": ["192.0.2.10/24", "2001:DB8::10/64"],
        "nameservers": ["192.0.2.53"],
    }
    first = await run("network.interface.create", data, host)
    assert (first.changed, first.data["backend"]) == (True, "networkmanager")
    keyfile = (root / KEYFILE).read_text()
    assert (root / KEYFILE).stat().st_mode & 0o777 == 0o600
    assert "[connection]\nid=corral-eth1\nuuid=" in keyfile
    assert "type=ethernet\ninterface-name=eth1\n" in keyfile
    assert "[ethernet]\nmtu=1500\n" in keyfile
    assert (
        "[ipv4]\nmethod=manual\naddress1=192.0.2.10/24\ngateway=192.0.2.1\ndns=192.0.2.53;\n"
        in keyfile
    )
    assert "[ipv6]\nmethod=manual\naddress1=2001:db8::10/64\n" in keyfile
    assert standins.calls("nmcli") == [
        ["connection", "reload"],
        ["connection", "up", "corral-eth1"],
    ]
    assert not (root / DROP_IN).exists()

    route = {
        "interface": "eth1",
        "destination": "2001:db8:1::/48",
        "gateway": "2001:db8::1",
        "metric": 5,
    }
    await run("network.route.create", route, host)
    assert "route1=2001:db8:1::/48,2001:db8::1,5\n" in (root / KEYFILE).read_text()
    assert (await run("network.interface.create", data, host)).changed is False
    await run("network.interface.delete", {"name": "eth1"}, host)
    assert not (root / KEYFILE).exists()
    assert standins.calls("nmcli")[-1] == ["connection", "reload"]


async def test_neither_netplan_nor_nmcli_is_skipped_even_for_a_dry_run(tmp_path: Path) -> None:
    _, _, host = make_host(tmp_path)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("network.interface.create", ETH1),
        ("network.interface.delete", {"name": "eth1"}),
        ("network.route.delete", {"interface": "eth1", "destination": "10.0.0.0/8"}),
    ]
    for op, data in calls:
        with pytest.raises(OperationSkipped, match="netplan or nmcli is not installed"):
            await run(op, data, host, dry_run=True)


@pytest.mark.parametrize(
    ("op", "data", "field"),
    [
        (
            "network.interface.create",
            {"name": "eth1", "addresses": ["192.0.2.10"]},
            r"addresses\[0\]",
        ),
        ("network.interface.create", {"name": "eth1", "mtu": 20}, "mtu"),
        ("network.interface.create", {"name": "eth1", "gateway": "gw"}, "gateway"),
        ("network.interface.create", {"name": "a/b"}, "name"),
        ("network.interface.update", {"name": "eth1", "nameservers": ["x"]}, r"nameservers\[0\]"),
        (
            "network.route.create",
            {"interface": "eth1", "destination": "0.0.0.0/0", "gateway": "192.0.2.1"},
            "destination",
        ),
        (
            "network.route.create",
            {"interface": "eth1", "destination": "10.0.0.1/8", "gateway": "192.0.2.1"},
            "destination",
        ),
        (
            "network.route.create",
            {"interface": "eth1", "destination": "10.0.0.0/8", "gateway": "2001:db8::1"},
            "gateway",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_field(op: str, data: dict[str, Any], field: str) -> None:
    with pytest.raises(OperationError, match=rf"^operation\.data[.:] ?{field}"):
        validate_params(op, data)
