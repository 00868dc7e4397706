"""apt and dnf as the ``package`` handlers see them: the argv to run, the output to parse. I/O.

Each manager answers the same questions (installed packages, installed and
candidate versions, what is upgradable) and builds the same commands
(install, remove, refresh) for its tool; the handlers
(agent/operations/package.py) never name a tool. Parsing is in plain
functions over the tools' text, tested on captured output
(tests/standins/captures/).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agent.operations.errors import OperationFailed
from agent.operations.host import Host

NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive"}


@dataclass(frozen=True)
class State:
    installed: str | None
    candidate: str | None


class Manager(Protocol):
    name: str

    async def installed(self, host: Host) -> list[dict[str, Any]]: ...
    async def states(self, host: Host, names: Sequence[str]) -> dict[str, State]: ...
    async def upgradable(self, host: Host) -> list[dict[str, Any]]: ...
    def install(self, specs: dict[str, str | None]) -> tuple[list[str], dict[str, str]]: ...
    def remove(self, names: Sequence[str]) -> tuple[list[str], dict[str, str]]: ...
    def refresh(self) -> list[str]: ...
    def fetched(self, output: str) -> list[str]: ...
    def satisfies(self, installed: str | None, wanted: str | None) -> bool: ...


def manager_of(host: Host) -> Manager:
    """apt where apt-get is installed, else dnf; neither: OperationSkipped."""
    found = host.require("apt-get", "dnf")
    return APT if found.endswith("apt-get") else DNF


# -- apt ---------------------------------------------------------------------

DPKG_FORMAT = "${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Status}\\n"
# "bash/bookworm-security 5.2.15-2+b8 amd64 [upgradable from: 5.2.15-2+b7]"
APT_UPGRADABLE = re.compile(
    r"(?P<name>[^/\s]+)/(?P<source>\S+) (?P<candidate>\S+) (?P<arch>\S+)"
    r" \[upgradable from: (?P<installed>[^\]]+)\]"
)
# "Get:2 http://deb.debian.org/debian bookworm-updates InRelease [55.4 kB]"
APT_GET = re.compile(r"Get:\d+ (?P<source>.+?)(?: \[[^\]]*\])?$")


def parse_dpkg_query(output: str) -> list[dict[str, Any]]:
    """Installed packages from ``dpkg-query -W -f=DPKG_FORMAT``; removed ones left out."""
    packages = []
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[3] == "installed":
            packages.append({"name": fields[0], "version": fields[1], "architecture": fields[2]})
    return packages


def parse_apt_policy(output: str) -> dict[str, State]:
    """``apt-cache policy NAME...``: a block per known name; unknown names print nothing."""
    found: dict[str, dict[str, str | None]] = {}
    current: dict[str, str | None] | None = None
    for line in output.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = found.setdefault(line[:-1], {"Installed": None, "Candidate": None})
            continue
        key, _, value = line.strip().partition(": ")
        if current is not None and key in ("Installed", "Candidate"):
            current[key] = None if value == "(none)" else value
    return {name: State(v["Installed"], v["Candidate"]) for name, v in found.items()}


def parse_apt_upgradable(output: str) -> list[dict[str, Any]]:
    packages = []
    for line in output.splitlines():
        match = APT_UPGRADABLE.fullmatch(line.strip())
        if match:
            packages.append(
                {
                    "name": match["name"],
                    "architecture": match["arch"],
                    "installed": match["installed"],
                    "candidate": match["candidate"],
                    "source": match["source"],
                }
            )
    return packages


class Apt:
    name = "apt"

    async def installed(self, host: Host) -> list[dict[str, Any]]:
        ran = await host.run(["dpkg-query", "-W", f"-f={DPKG_FORMAT}"])
        return parse_dpkg_query(ran.stdout)

    async def states(self, host: Host, names: Sequence[str]) -> dict[str, State]:
        ran = await host.run(["apt-cache", "policy", *names])
        found = parse_apt_policy(ran.stdout)
        # apt names a native "libc6:amd64" just "libc6".
        return {
            n: found.get(n) or found.get(n.partition(":")[0]) or State(None, None) for n in names
        }

    async def upgradable(self, host: Host) -> list[dict[str, Any]]:
        # apt warns on stderr that its CLI is not stable; its list format has held for years.
        ran = await host.run(["apt", "list", "--upgradable"])
        return parse_apt_upgradable(ran.stdout)

    def install(self, specs: dict[str, str | None]) -> tuple[list[str], dict[str, str]]:
        wanted = [
            name if version is None else f"{name}={version}" for name, version in specs.items()
        ]
        # A changed configuration file keeps the admin's version, without a prompt.
        options = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
        return ["apt-get", "install", "-y", "-q", *options, *wanted], NONINTERACTIVE

    def remove(self, names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        return ["apt-get", "remove", "-y", "-q", *names], NONINTERACTIVE

    def refresh(self) -> list[str]:
        return ["apt-get", "update"]

    def fetched(self, output: str) -> list[str]:
        # "Hit:" is a list that was current, "Ign:" one the source does not have.
        return [m["source"] for line in output.splitlines() if (m := APT_GET.match(line.strip()))]

    def satisfies(self, installed: str | None, wanted: str | None) -> bool:
        return installed is not None and wanted in (None, installed)


# -- dnf ---------------------------------------------------------------------

# The epoch only where there is one, as dnf prints versions.
RPM_FORMAT = "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\n"
# "BaseOS    2.1 MB/s | 2.2 MB     00:01": a repository whose metadata was downloaded.
DNF_DOWNLOAD = re.compile(r"(?P<repo>.+?)\s+[\d.]+\s+[kMG]?B/s\s+\|\s+[\d.]+\s+[kMG]?B\s+\d+:\d\d")


def parse_rpm_query(output: str) -> list[dict[str, Any]]:
    """``rpm -q[a] --queryformat RPM_FORMAT``; "package x is not installed" lines left out."""
    packages = []
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) == 3:
            arch = "" if fields[2] == "(none)" else fields[2]  # gpg-pubkey has none
            packages.append({"name": fields[0], "version": fields[1], "architecture": arch})
    return packages


def _rpm_version(record: dict[str, str]) -> str:
    version = f"{record.get('version', '')}-{record.get('release', '')}"
    epoch = record.get("epoch", "0")
    return version if epoch == "0" else f"{epoch}:{version}"


def parse_dnf_info(output: str) -> dict[str, State]:
    """``dnf info NAME...``: "Installed Packages" then "Available Packages" sections."""
    installed: dict[str, str] = {}
    available: dict[str, str] = {}
    section = installed
    record: dict[str, str] = {}
    for line in [*output.splitlines(), ""]:
        heading = line.strip().lower()
        key, sep, value = line.partition(":")
        if heading in ("installed packages", "available packages", "") or not sep:
            if "name" in record:
                section.setdefault(record["name"], _rpm_version(record))
            record = {}
            if heading.startswith(("installed", "available")):
                section = installed if heading.startswith("installed") else available
        elif key.strip():  # continuation lines (" : more text") have no key
            record[key.strip().lower()] = value.strip()
    return {
        name: State(installed.get(name), available.get(name) or installed.get(name))
        for name in installed.keys() | available.keys()
    }


def parse_dnf_check_update(output: str) -> list[dict[str, Any]]:
    """``dnf check-update``: "name.arch version repo", a long name wrapping onto its own line."""
    packages: list[dict[str, Any]] = []
    tokens: list[str] = []
    for line in output.splitlines():
        if line.startswith("Obsoleting"):
            break  # what follows replaces packages; check-update listed the upgrades above
        words = line.split()
        if not words or line.startswith(("Last metadata", "Security:")):
            tokens = []
            continue
        tokens += words
        if len(tokens) >= 3:
            name, _, arch = tokens[0].rpartition(".")
            packages.append(
                {"name": name, "architecture": arch, "candidate": tokens[1], "source": tokens[2]}
            )
            tokens = []
    return packages


class Dnf:
    name = "dnf"

    async def installed(self, host: Host) -> list[dict[str, Any]]:
        ran = await host.run(["rpm", "-qa", "--queryformat", RPM_FORMAT])
        return parse_rpm_query(ran.stdout)

    async def states(self, host: Host, names: Sequence[str]) -> dict[str, State]:
        ran = await host.run(["dnf", "info", "-q", *names], check=False)
        # dnf info exits 1 when no name matched anything: every one unknown.
        if ran.exit_code not in (0, 1) or (ran.exit_code == 1 and "No matching" not in ran.stderr):
            raise OperationFailed(f"dnf info exited with {ran.exit_code}: {ran.reason()}")
        found = parse_dnf_info(ran.stdout)
        return {n: found.get(n, State(None, None)) for n in names}

    async def upgradable(self, host: Host) -> list[dict[str, Any]]:
        ran = await host.run(["dnf", "check-update", "-q"], check=False)
        if ran.exit_code not in (0, 100):  # 100: there are updates; anything else is an error
            raise OperationFailed(f"dnf check-update exited with {ran.exit_code}: {ran.reason()}")
        packages = parse_dnf_check_update(ran.stdout)
        if not packages:
            return []
        names = sorted({p["name"] for p in packages})
        query = await host.run(["rpm", "-q", "--queryformat", RPM_FORMAT, *names], check=False)
        now = {(p["name"], p["architecture"]): p["version"] for p in parse_rpm_query(query.stdout)}
        return [{**p, "installed": now.get((p["name"], p["architecture"]))} for p in packages]

    def install(self, specs: dict[str, str | None]) -> tuple[list[str], dict[str, str]]:
        wanted = [
            name if version is None else f"{name}-{version}" for name, version in specs.items()
        ]
        return ["dnf", "install", "-y", "-q", *wanted], {}

    def remove(self, names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        return ["dnf", "remove", "-y", "-q", *names], {}

    def refresh(self) -> list[str]:
        return ["dnf", "makecache"]

    def fetched(self, output: str) -> list[str]:
        return [
            m["repo"] for line in output.splitlines() if (m := DNF_DOWNLOAD.match(line.strip()))
        ]

    def satisfies(self, installed: str | None, wanted: str | None) -> bool:
        if installed is None or wanted in (None, installed):
            return installed is not None
        # "5.1.8" and "5.1.8-6.el9" both name the installed 5.1.8-6.el9; so does no epoch.
        bare = installed.partition(":")[2] if ":" not in wanted and ":" in installed else installed
        return wanted in (bare, bare.rpartition("-")[0])


APT = Apt()
DNF = Dnf()
