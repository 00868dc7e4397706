"""The ``ntp.*`` operations: NTP servers of chrony or systemd-timesyncd. I/O via the host seam.

chrony wins when both are configured (the Debian packages conflict, so
both only happen on a half-migrated host, where chrony is the one that
runs). corral's servers go into a drop-in of its own: chrony's sources.d
(``server NAME iburst``) or timesyncd.conf.d (``NTP=`` reset, then the
list, so it replaces what earlier files named).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.operations.base import Handler, OperationContext, OperationSkipped
from agent.operations.diff import unified
from agent.operations.host import Host
from common.operations.declaration import NoParams, OperationResult
from common.operations.ntp import SetParams

CHRONY_CONFIGS = ("/etc/chrony/chrony.conf", "/etc/chrony.conf")
CHRONY_SOURCES_DIR = "/etc/chrony/sources.d"
CHRONY_DROP_IN = f"{CHRONY_SOURCES_DIR}/corral.sources"
CHRONY_DIRECTIVES = ("server", "pool", "peer")
TIMESYNCD_CONFIG = "/etc/systemd/timesyncd.conf"
TIMESYNCD_DROP_IN_DIRS = (
    "/etc/systemd/timesyncd.conf.d",
    "/run/systemd/timesyncd.conf.d",
    "/usr/local/lib/systemd/timesyncd.conf.d",
    "/usr/lib/systemd/timesyncd.conf.d",
)
TIMESYNCD_DROP_IN = f"{TIMESYNCD_DROP_IN_DIRS[0]}/corral.conf"
HEADER = "# Managed by corral (ntp.set): it replaces this file.\n"
SOURCEDIR_LINE = (
    f"\n# Added by corral (ntp.set) to read its servers.\nsourcedir {CHRONY_SOURCES_DIR}\n"
)


@dataclass(frozen=True)
class Client:
    implementation: str  # chrony or timesyncd
    config_file: str
    drop_in_file: str


def detect(host: Host) -> Client | None:
    for config in CHRONY_CONFIGS:
        if host.file(config).is_file():
            return Client("chrony", config, CHRONY_DROP_IN)
    if host.file(TIMESYNCD_CONFIG).is_file():
        return Client("timesyncd", TIMESYNCD_CONFIG, TIMESYNCD_DROP_IN)
    return None


# -- chrony ------------------------------------------------------------------


def _words(text: str) -> list[list[str]]:
    lines = (line.split("#", 1)[0].split("!", 1)[0].split() for line in text.splitlines())
    return [words for words in lines if words]


def chrony_sourcedirs(host: Host, config: str) -> list[str]:
    return [
        w[1] for w in _words(host.read_text(config) or "") if w[0] == "sourcedir" and len(w) > 1
    ]


def chrony_sources(host: Host, config: str) -> list[dict[str, str]]:
    """``server``/``pool``/``peer`` lines of the config, its confdirs and its sourcedirs."""
    files = [config]
    for words in _words(host.read_text(config) or ""):
        if words[0] in ("sourcedir", "confdir") and len(words) > 1:
            suffix = ".sources" if words[0] == "sourcedir" else ".conf"
            local = host.file(words[1])
            if local.is_dir():
                names = sorted(p.name for p in local.iterdir() if p.name.endswith(suffix))
                files += [f"{words[1]}/{name}" for name in names]
    return [
        {"server": words[1], "kind": words[0], "file": path}
        for path in files
        for words in _words(host.read_text(path) or "")
        if words[0] in CHRONY_DIRECTIVES and len(words) > 1
    ]


def parse_tracking(csv: str) -> dict[str, object]:
    """``chronyc -c tracking``: ref id, name, stratum, ref time, correction, ..., leap status."""
    fields = csv.strip().split(",")
    if len(fields) < 14:
        return {
            "synchronized": None,
            "tool": "chronyc",
            "error": f"unexpected output: {csv.strip()!r}",
        }
    leap = fields[13]
    synchronized = leap != "Not synchronised" and fields[0] != "00000000"
    return {
        "synchronized": synchronized,
        "server": fields[1] or None,
        "stratum": int(fields[2]),
        # chrony's correction is positive when the clock is slow (behind).
        "offset": -float(fields[4]),
        "leap": leap,
        "tool": "chronyc",
    }


async def chrony_sync(host: Host) -> dict[str, object] | None:
    if host.which("chronyc") is None:
        return None
    ran = await host.run(["chronyc", "-c", "tracking"], check=False)
    if ran.exit_code != 0:
        return {"synchronized": None, "tool": "chronyc", "error": ran.reason()}
    return parse_tracking(ran.stdout)


# -- systemd-timesyncd -------------------------------------------------------


def timesyncd_files(host: Host) -> list[str]:
    by_name: dict[str, str] = {}
    for directory in TIMESYNCD_DROP_IN_DIRS:
        local = host.file(directory)
        if local.is_dir():
            for entry in local.iterdir():
                if entry.name.endswith(".conf") and entry.name not in by_name:
                    by_name[entry.name] = f"{directory}/{entry.name}"
    return [TIMESYNCD_CONFIG, *(by_name[name] for name in sorted(by_name))]


def timesyncd_sources(host: Host) -> list[dict[str, str]]:
    """``NTP=`` and ``FallbackNTP=`` as systemd reads them: lists that an empty value resets."""
    lists: dict[str, list[dict[str, str]]] = {"ntp": [], "fallback": []}
    for path in timesyncd_files(host):
        section = ""
        for raw in (host.read_text(path) or "").splitlines():
            line = raw.strip()
            if line.startswith("["):
                section = line
                continue
            name, sep, value = line.partition("=")
            kind = {"NTP": "ntp", "FallbackNTP": "fallback"}.get(name.strip())
            if section != "[Time]" or not sep or kind is None:
                continue
            if not value.split():
                lists[kind] = []
            lists[kind] += [{"server": s, "kind": kind, "file": path} for s in value.split()]
    return lists["ntp"] + lists["fallback"]


def parse_properties(text: str) -> dict[str, str]:
    """``timedatectl show``'s ``Name=value`` lines."""
    return dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)


def _stratum(message: str) -> int | None:
    for part in message.strip("{} ").split(","):
        name, _, value = part.strip().partition("=")
        if name == "Stratum" and value.isdigit():
            return int(value)
    return None


async def timesyncd_sync(host: Host) -> dict[str, object] | None:
    if not host.systemd_running() or host.which("timedatectl") is None:
        return None
    shown = await host.run(["timedatectl", "show"], check=False)
    timesync = await host.run(["timedatectl", "show-timesync"], check=False)
    if shown.exit_code != 0:
        return {"synchronized": None, "tool": "timedatectl", "error": shown.reason()}
    state = parse_properties(shown.stdout)
    details = parse_properties(timesync.stdout) if timesync.exit_code == 0 else {}
    return {
        "synchronized": state.get("NTPSynchronized") == "yes",
        "server": details.get("ServerName") or None,
        "stratum": _stratum(details.get("NTPMessage", "")),
        "tool": "timedatectl",
    }


# -- handlers ------------------------------------------------------------------


async def get(params: NoParams, ctx: OperationContext) -> OperationResult:
    host = ctx.host
    client = detect(host)
    if client is None:
        data = {"implementation": None, "config_file": None, "drop_in_file": None}
        return OperationResult(data={**data, "servers": [], "corral_servers": [], "sync": None})
    chrony = client.implementation == "chrony"
    sources = chrony_sources(host, client.config_file) if chrony else timesyncd_sources(host)
    return OperationResult(
        data={
            "implementation": client.implementation,
            "config_file": client.config_file,
            "drop_in_file": client.drop_in_file,
            "servers": sources,
            "corral_servers": [s["server"] for s in sources if s["file"] == client.drop_in_file],
            "sync": await (chrony_sync(host) if chrony else timesyncd_sync(host)),
        }
    )


def drop_in_content(client: Client, servers: list[str]) -> bytes | None:
    if not servers:
        return None
    if client.implementation == "chrony":
        return (HEADER + "".join(f"server {s} iburst\n" for s in servers)).encode()
    return f"{HEADER}[Time]\nNTP=\nNTP={' '.join(servers)}\n".encode()


def _write(host: Host, path: str, content: bytes | None, dry_run: bool) -> str:
    """Make ``path`` hold ``content`` (None: absent); the unified diff of the change."""
    if content is None:
        before = host.remove_file(path, dry_run=dry_run)
        return unified(path, before, None)
    written = host.write_file(path, content, mode=0o644, dry_run=dry_run)
    return unified(path, written.before, content) if written.changed else ""


async def set_servers(params: SetParams, ctx: OperationContext) -> OperationResult:
    host = ctx.host
    client = detect(host)
    if client is None:
        raise OperationSkipped("neither chrony nor systemd-timesyncd is installed on this host")
    chrony = client.implementation == "chrony"
    add_sourcedir = (
        chrony
        and bool(params.servers)
        and CHRONY_SOURCES_DIR not in chrony_sourcedirs(host, client.config_file)
    )
    if chrony:
        host.require("chronyc")
    if add_sourcedir or not chrony:
        host.require_systemd()
        host.require("systemctl")
    diffs = []
    if add_sourcedir:
        config = host.read_bytes(client.config_file) or b""
        diffs.append(
            _write(host, client.config_file, config + SOURCEDIR_LINE.encode(), ctx.dry_run)
        )
    diffs.append(
        _write(host, client.drop_in_file, drop_in_content(client, params.servers), ctx.dry_run)
    )
    diff = "".join(diffs)
    reload = None
    if diff:
        if add_sourcedir:
            reload = ["systemctl", "restart", "chronyd"]
        elif chrony:
            reload = ["chronyc", "reload", "sources"]
        else:
            reload = ["systemctl", "restart", "systemd-timesyncd"]
        if not ctx.dry_run:
            await host.run(reload)
    return OperationResult(
        data={
            "implementation": client.implementation,
            "drop_in_file": client.drop_in_file,
            "servers": params.servers,
            "reloaded": None if ctx.dry_run else reload,
            "diff": diff,
        },
        changed=bool(diff),
    )


HANDLERS: dict[str, Handler] = {"ntp.get": get, "ntp.set": set_servers}
