"""The shipped NATS cluster and leaf configs, moved to loopback (devstack/nats_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.nats_cluster import NODES, Ports, leaf_config, node_config, render
from devstack.process import ServerError


def test_a_node_config_differs_from_the_shipped_one_only_in_addresses_and_paths() -> None:
    ports = {name: Ports() for name in NODES}
    text = node_config("nats-2", ports, Path("/tmp/store"))
    own = ports["nats-2"]
    assert f"listen: 127.0.0.1:{own.client}" in text
    assert f"listen: 127.0.0.1:{own.route}" in text
    assert f"listen: 127.0.0.1:{own.leaf}" in text
    assert all(f"127.0.0.1:{p.route}" in text for p in ports.values())
    assert "corral.internal" not in text
    assert "server_name: nats-2" in text
    assert 'include "accounts.conf"' in text


def test_the_leaf_config_names_every_hub_node() -> None:
    text = leaf_config({"nats-1": 1001, "nats-2": 1002, "nats-3": 1003}, 2000, 2001)
    for port in (1001, 1002, 1003):
        assert f"@127.0.0.1:{port}" in text
    assert "listen: 127.0.0.1:2000" in text


def test_an_address_the_shipped_config_gained_is_an_error_not_a_silent_drift() -> None:
    with pytest.raises(ServerError, match="does not move"):
        render("listen: 0.0.0.0:4222\ngateway { listen: 0.0.0.0:7222 }\nx: h:6222", {})
    with pytest.raises(ServerError, match="no longer has"):
        render("listen: 0.0.0.0:4222", {"0.0.0.0:6222": "127.0.0.1:1"})
