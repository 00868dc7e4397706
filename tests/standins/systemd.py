"""A systemd behind the systemctl stand-in: units' state in a JSON file under the host root. I/O.

Enough of systemctl for the service handlers' tests: ``show`` prints a
unit's properties in systemctl's ``Key=Value`` form (those asked for, in
systemd's order; an unknown unit is ``not-found``), ``start``, ``stop``,
``restart``, ``reload``, ``enable`` and ``disable`` change them as systemd
would, and ``daemon-reload`` loads the unit files of /etc/systemd/system
(and forgets the units whose file there is gone). Units start from
captures of real-format ``systemctl show`` output::

    install(standins, "show-avahi-daemon.txt")
    host = Host(root, standins.only)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.standins import Answer, Standins, capture

STATE = "run/systemd/standin-units.json"
UNIT_DIR = "etc/systemd/system"
# The order systemctl show prints them in: the Service interface, then the Unit's.
ORDER = (
    "MainPID", "Result", "NRestarts", "MemoryCurrent", "Id", "Description", "LoadState",
    "ActiveState", "SubState", "FragmentPath", "DropInPaths", "UnitFileState",
    "UnitFilePreset", "ActiveEnterTimestamp", "CanReload", "NeedDaemonReload",
)  # fmt: skip
RUNNING = {"ActiveState": "active", "SubState": "running", "MainPID": "4242"}
DEAD = {"ActiveState": "inactive", "SubState": "dead", "MainPID": "0"}
CHANGES: dict[str, dict[str, str]] = {
    "start": RUNNING,
    "restart": RUNNING,
    "reload": RUNNING,
    "stop": DEAD,
    "enable": {"UnitFileState": "enabled"},
    "disable": {"UnitFileState": "disabled"},
}
_EFFECTS = "tests.standins.systemd"


def install(standins: Standins, *captures: str) -> None:
    """A running systemd under the root, knowing the units of these ``systemctl/`` captures."""
    (standins.root / "run/systemd/system").mkdir(parents=True, exist_ok=True)
    units = {}
    for name in captures:
        shown = parse_show(capture(f"systemctl/{name}"))
        units[shown["Id"]] = shown
    save(standins.root, units)
    standins.add(
        "systemctl",
        Answer(("show",), effect=f"{_EFFECTS}:show"),
        Answer(("daemon-reload",), effect=f"{_EFFECTS}:daemon_reload"),
        *(Answer((verb,), effect=f"{_EFFECTS}:act") for verb in CHANGES),
    )


def parse_show(text: str) -> dict[str, str]:
    # Not the handlers' parser: this runs in every stand-in call, and asyncio
    # (which theirs imports) would double its start-up time.
    return dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)


def units(root: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = json.loads((root / STATE).read_text())
    return found


def save(root: Path, state: dict[str, dict[str, str]]) -> None:
    (root / STATE).write_text(json.dumps(state))


def set_unit(root: Path, unit: str, **properties: str) -> None:
    """Change a unit's properties behind the handlers' back."""
    state = units(root)
    state[unit].update(properties)
    save(root, state)


def _not_found(unit: str) -> dict[str, str]:
    shown = parse_show(capture("systemctl/show-not-found.txt"))
    return {**shown, "Id": unit, "Description": unit}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def show(args: list[str], root: Path, stdin: Any) -> str:
    wanted = next(
        (a.partition("=")[2].split(",") for a in args if a.startswith("--property=")), ORDER
    )
    unit = args[-1]
    shown = units(root).get(unit) or _not_found(unit)
    loaded = shown.get("_loaded")
    if loaded is not None:  # a unit file changed on disk since systemd read it
        stale = _digest(root / shown["FragmentPath"].lstrip("/")) != loaded
        shown["NeedDaemonReload"] = "yes" if stale else "no"
    return "".join(f"{key}={shown.get(key, '')}\n" for key in ORDER if key in wanted)


def act(args: list[str], root: Path, stdin: Any) -> None:
    set_unit(root, args[-1], **CHANGES[args[0]])


def daemon_reload(args: list[str], root: Path, stdin: Any) -> None:
    state = units(root)
    for path in sorted((root / UNIT_DIR).glob("*.service")):
        content = path.read_text()
        known = state.get(path.name) or {
            **_not_found(path.name),
            "LoadState": "loaded",
            "UnitFileState": "disabled" if "[Install]" in content else "static",
        }
        for line in content.splitlines():
            if line.startswith("Description="):
                known["Description"] = line.partition("=")[2]
        known["FragmentPath"] = f"/{UNIT_DIR}/{path.name}"
        known["_loaded"] = _digest(path)
        state[path.name] = known
    for name, known in list(state.items()):
        if (
            known.get("FragmentPath", "").startswith(f"/{UNIT_DIR}/")
            and not (root / UNIT_DIR / name).exists()
        ):
            del state[name]
    save(root, state)
