"""A three-node ``nats-server`` cluster (and a leaf node) on loopback, from the shipped configs.

Does I/O: writes each node's config into its own directory, starts the
servers (see :mod:`devstack.process`), and polls their monitoring
``/healthz`` until every node's JetStream is current.

The configs are the deployment's own (``deploy/nats/cluster/nats-N.conf``,
``accounts.conf``, ``deploy/nats/leaf/leaf.conf``) with only addresses and
paths replaced (:func:`render`): client, route, leaf and monitoring
listeners move to free loopback ports, route and leaf URLs name those
ports, and the store directory is the node's own. A shipped address this
module does not know is an error, so the files cannot drift from what the
tests run. The accounts file is the caller's to fill in
(:func:`fill_accounts`): its password placeholders match nobody.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack.nats_server import _check_nats
from devstack.process import (
    HOST,
    ReadyCheck,
    ServerError,
    ServerProcess,
    find_binary,
    free_port,
    read_line,
    start_server,
)

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "nats"
CLUSTER_CONFIGS = DEPLOY / "cluster"
LEAF_CONFIGS = DEPLOY / "leaf"
NODES = ("nats-1", "nats-2", "nats-3")
# The shipped listeners and the hub's address in the leaf's remote.
CLIENT, MONITOR, ROUTE, LEAF = "0.0.0.0:4222", "127.0.0.1:8222", "0.0.0.0:6222", "0.0.0.0:7422"
SITE_CLIENT = "0.0.0.0:4222"
STORE = "/var/lib/nats/jetstream"
HEALTHY_WITHIN = 30.0
_PORT_ATTEMPTS = 3
_ADDRESS = re.compile(r"(?<![\w.-])(?:[\w.-]+):(?:4222|6222|7422|8222)(?!\d)")


@dataclass(frozen=True)
class Ports:
    """One node's loopback ports."""

    client: int = field(default_factory=free_port)
    route: int = field(default_factory=free_port)
    leaf: int = field(default_factory=free_port)
    monitor: int = field(default_factory=free_port)


def render(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each shipped address and path replaced; raise on one left over."""
    for shipped, ours in replacements.items():
        if shipped not in text:
            raise ServerError(f"the shipped config no longer has {shipped!r}")
        text = text.replace(shipped, ours)
    left = [m.group(0) for m in _ADDRESS.finditer(text) if not m.group(0).startswith(HOST)]
    if left:
        raise ServerError(f"addresses in the shipped config this module does not move: {left}")
    return text


def node_config(name: str, ports: dict[str, Ports], store: Path) -> str:
    own = ports[name]
    replacements = {
        f'"{STORE}"': json.dumps(str(store)),
        CLIENT: f"{HOST}:{own.client}",
        MONITOR: f"{HOST}:{own.monitor}",
        ROUTE: f"{HOST}:{own.route}",
        LEAF: f"{HOST}:{own.leaf}",
        **{f"{peer}.corral.internal:6222": f"{HOST}:{p.route}" for peer, p in ports.items()},
    }
    return render((CLUSTER_CONFIGS / f"{name}.conf").read_text(), replacements)


def leaf_config(hubs: dict[str, int], client: int, monitor: int) -> str:
    """The leaf node's config: its remote names every hub node's leaf port (``hubs``)."""
    replacements = {
        SITE_CLIENT: f"{HOST}:{client}",
        MONITOR: f"{HOST}:{monitor}",
        **{f"{peer}.corral.internal:7422": f"{HOST}:{port}" for peer, port in hubs.items()},
    }
    return render((LEAF_CONFIGS / "leaf.conf").read_text(), replacements)


def fill_accounts(
    text: str,
    passwords: dict[str, str],
    agents: dict[str, str],
    example: str,
    encode: Callable[[str], str],
) -> str:
    """The accounts file as an operator fills it in: a block per agent host, plain passwords.

    ``passwords``: user -> password for the users the file names (controller,
    admin, leaf); ``agents``: agent hostname -> password, each getting a copy
    of the shipped ``agent-web-1`` block for its encoded name ``encode(host)``
    (``example`` is the block's own encoded host); its user is ``agent-<host>``.
    """
    start = text.index("      {\n        # One user per agent host")
    end = text.index("      # Next host:")
    block = text[start:end]
    blocks = []
    for host, password in agents.items():
        copy = block.replace(example, encode(host)).replace(
            "user: agent-web-1\n", f"user: agent-{host}\n"
        )
        blocks.append(_set_password(copy, f"agent-{host}", password))
    text = text[:start] + "".join(blocks) + text[end:]
    for user, password in passwords.items():
        text = _set_password(text, user, password)
    return text


def _set_password(text: str, user: str, password: str) -> str:
    at = text.index(f"user: {user}")
    quoted = text.index('"', text.index("password:", at))
    closing = text.index('"', quoted + 1)
    return text[: quoted + 1] + password + text[closing:]


def healthy(monitor_port: int, timeout: float = 1.0) -> bool:
    """The node's ``/healthz`` answers 200: JetStream up and its meta group current."""
    url = f"http://{HOST}:{monitor_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(
    ports: list[int], within: float = HEALTHY_WITHIN, servers: Sequence[ServerProcess] = ()
) -> None:
    """Until every node's ``/healthz`` answers 200; raise if one of ``servers`` exits."""
    deadline = time.monotonic() + within
    while not all(healthy(p) for p in ports):
        if exited := [s.name for s in servers if not s.running]:
            raise ServerError(f"{exited} exited; see their logs under {servers[0].data_dir.parent}")
        if time.monotonic() > deadline:
            raise ServerError(
                f"nats cluster not healthy within {within:g}s (monitor ports {ports})"
            )
        time.sleep(0.1)  # a poll of a local HTTP endpoint; nothing to await in sync code


@dataclass
class NatsCluster:
    """Three clustered nodes by server name, and optionally a leaf node."""

    root: Path
    ports: dict[str, Ports]
    nodes: dict[str, ServerProcess] = field(default_factory=dict)
    leaf: ServerProcess | None = None
    leaf_monitor: int = 0

    def url(self, name: str, user: str = "", password: str = "") -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"nats://{auth}{HOST}:{self.ports[name].client}"

    def kill(self, name: str) -> None:
        self.nodes[name].kill()

    def restart(self, name: str) -> None:
        """Start ``name`` again (same ports, same store), until the cluster is healthy."""
        self.nodes[name].restart()
        self.wait_healthy()

    def wait_healthy(self) -> None:
        nodes = list(self.nodes)
        wait_healthy([self.ports[n].monitor for n in nodes], servers=list(self.nodes.values()))

    def stop(self) -> None:
        for server in [*([self.leaf] if self.leaf else []), *self.nodes.values()]:
            if server.running:
                server.resume()  # a paused server cannot shut down
            server.stop()


def _start(
    name: str, directory: Path, config: str, port: int, check: ReadyCheck = _check_nats
) -> ServerProcess:
    binary = find_binary("nats-server")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "nats.conf"
    path.write_text(config)

    def build(chosen: int, log_path: Path) -> tuple[list[str], str]:
        return [binary, "-c", str(path), "-l", str(log_path)], f"nats://{HOST}:{chosen}"

    return start_server(name, directory, port, build, check)


def start_cluster(root: Path, accounts: str) -> NatsCluster:
    """Start the three nodes under ``root`` with ``accounts`` (a filled-in accounts.conf).

    Twelve ports are picked free and written into the configs before any node
    starts, so another process may take one meanwhile: then the whole cluster
    starts again on fresh ports, as :func:`devstack.process.start_server` does
    for one server.
    """
    for attempt in range(_PORT_ATTEMPTS):
        cluster = NatsCluster(root, _distinct_ports())
        try:
            for name in NODES:
                directory = root / name
                directory.mkdir(parents=True, exist_ok=True)
                # The node's config includes "accounts.conf" from its own directory.
                (directory / "accounts.conf").write_text(accounts)
                config = node_config(name, cluster.ports, directory / "jetstream")
                cluster.nodes[name] = _start(name, directory, config, cluster.ports[name].client)
            cluster.wait_healthy()
        except ServerError:
            cluster.stop()
            if attempt + 1 == _PORT_ATTEMPTS:
                raise
            continue
        except BaseException:
            cluster.stop()
            raise
        return cluster
    raise AssertionError("unreachable")  # pragma: no cover


def _distinct_ports() -> dict[str, Ports]:
    while True:
        ports = {name: Ports() for name in NODES}
        chosen = [p for node in ports.values() for p in dataclasses.astuple(node)]
        if len(set(chosen)) == len(chosen):
            return ports


def _check_leaf(port: int, timeout: float) -> None:
    """Raise unless a NATS server greets on ``port`` (a leaf node runs no JetStream)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        if not read_line(sock).startswith(b"INFO "):
            raise ConnectionError("no INFO greeting")


def leaf_links(monitor_port: int) -> int:
    """How many leaf node links the server on ``monitor_port`` has (its ``/leafz``)."""
    url = f"http://{HOST}:{monitor_port}/leafz"
    with urllib.request.urlopen(url, timeout=2.0) as response:
        return int(json.load(response).get("leafnodes", 0))


def start_leaf(
    cluster: NatsCluster, accounts: str, hubs: dict[str, int] | None = None
) -> ServerProcess:
    """Start a leaf node whose clients use ``accounts``, linked to every hub node.

    ``hubs``: node name -> the port to reach its leaf listener through (a test
    puts a proxy there to cut the link); each node's own leaf port by default.
    Returns once the link is up.
    """
    directory = cluster.root / "leaf"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "accounts.conf").write_text(accounts)
    client, cluster.leaf_monitor = free_port(), free_port()
    hubs = hubs or {name: ports.leaf for name, ports in cluster.ports.items()}
    config = leaf_config(hubs, client, cluster.leaf_monitor)
    cluster.leaf = _start("nats-leaf", directory, config, client, _check_leaf)
    deadline = time.monotonic() + HEALTHY_WITHIN
    while leaf_links(cluster.leaf_monitor) < 1:
        if time.monotonic() > deadline:
            raise ServerError(
                f"the leaf node did not link to the cluster; see {cluster.leaf.log_path}"
            )
        time.sleep(0.1)  # a poll of a local HTTP endpoint; nothing to await in sync code
    return cluster.leaf
