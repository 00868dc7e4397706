"""Stand-in effects for dpkg and apt over real-format files under the host root. I/O.

The package database is the root's ``/var/lib/dpkg/status`` and the
sources are the ``*_Packages`` files under ``/var/lib/apt/lists``, both in
their real format (stanzas captured with ``dpkg-query -s`` and ``apt-cache
show``). ``apt-get install`` and ``remove`` rewrite the status file as dpkg
would; ``dpkg-query -W`` and ``apt-cache policy`` answer from it, in the
output formats captured from the real tools (captures/dpkg-query,
captures/apt-cache). So a second run of a handler sees what the first did.

    standins = debian_with_apt(tmp_path)   # the root, and apt's tools as stand-ins
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.standins import Answer, Standins, capture

STATUS = "var/lib/dpkg/status"
LISTS = "var/lib/apt/lists"
INSTALLED = "install ok installed"

Stanza = dict[str, str]
EFFECTS = "tests.standins.packages"


def debian_with_apt(workdir: Path) -> Standins:
    """A root at ``workdir/root`` with bash installed (its real status stanza) and hello
    and nginx in the lists; dpkg-query, apt-cache, apt-get and apt as stand-ins."""
    root = workdir / "root"
    (root / STATUS).parent.mkdir(parents=True)
    (root / STATUS).write_text(capture("dpkg-query/status-bash.txt"))
    (root / LISTS).mkdir(parents=True)
    sources = capture("apt-cache/show-hello.txt") + "\n" + capture("apt-cache/show-nginx.txt")
    (root / LISTS / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text(
        sources
    )
    standins = Standins.create(workdir, root)
    standins.add("dpkg-query", Answer(("-W",), effect=f"{EFFECTS}:dpkg_query"))
    standins.add("apt-cache", Answer(("policy",), effect=f"{EFFECTS}:apt_cache_policy"))
    standins.add(
        "apt-get",
        Answer(("install",), effect=f"{EFFECTS}:apt_get_install"),
        Answer(("remove",), effect=f"{EFFECTS}:apt_get_remove"),
        Answer(("update",), stdout=capture("apt-get/update.txt")),
    )
    upgradable = capture("apt/list-upgradable.txt")
    warning = capture("apt/list-upgradable.stderr.txt")
    standins.add("apt", Answer(("list", "--upgradable"), stdout=upgradable, stderr=warning))
    return standins


def parse_stanzas(text: str) -> list[Stanza]:
    """Control-file stanzas: ``Field: value`` lines (continuations dropped), blank-line apart."""
    stanzas = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ": " in line:
                key, _, value = line.partition(": ")
                fields[key] = value
        if "Package" in fields:
            stanzas.append(fields)
    return stanzas


def _render(stanzas: list[Stanza]) -> str:
    return "\n".join("".join(f"{k}: {v}\n" for k, v in s.items()) for s in stanzas)


def status(root: Path) -> list[Stanza]:
    path = root / STATUS
    return parse_stanzas(path.read_text()) if path.exists() else []


def available(root: Path) -> dict[str, Stanza]:
    found: dict[str, Stanza] = {}
    for path in sorted((root / LISTS).glob("*_Packages")):
        for stanza in parse_stanzas(path.read_text()):
            found.setdefault(stanza["Package"], stanza)
    return found


def _installed(root: Path) -> dict[str, Stanza]:
    return {s["Package"]: s for s in status(root) if s.get("Status") == INSTALLED}


def dpkg_query(args: list[str], root: Path, stdin: str | None) -> str:
    """``dpkg-query -W -f=FORMAT``: every package dpkg knows, installed or not."""
    fmt = next(a[3:] for a in args if a.startswith("-f="))
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    out = []
    for stanza in status(root):
        line = fmt.replace("${db:Status-Status}", stanza["Status"].split()[-1])
        for key, value in stanza.items():
            line = line.replace(f"${{{key}}}", value)
        out.append(line)
    return "".join(out)


def apt_cache_policy(args: list[str], root: Path, stdin: str | None) -> str:
    installed, sources = _installed(root), available(root)
    out = []
    for name in args[1:]:
        have, offer = installed.get(name), sources.get(name)
        if have is None and offer is None:
            continue  # apt-cache policy prints nothing for a name it does not know
        now = have["Version"] if have else "(none)"
        candidate = offer["Version"] if offer else now
        out.append(f"{name}:\n  Installed: {now}\n  Candidate: {candidate}\n  Version table:\n")
        if offer:
            mark = "***" if have and have["Version"] == candidate else "   "
            out.append(f" {mark} {candidate} 500\n        500 http://deb.debian.org/debian")
            out.append(f" bookworm/main {offer['Architecture']} Packages\n")
    return "".join(out)


def _names(args: list[str]) -> list[str]:
    """The package arguments of ``apt-get install|remove [options] NAME...``."""
    names, skip = [], False
    for arg in args[1:]:
        if skip or arg.startswith("-"):
            skip = arg == "-o"
            continue
        names.append(arg)
    return names


def apt_get_install(args: list[str], root: Path, stdin: str | None) -> str:
    if os.environ.get("DEBIAN_FRONTEND") != "noninteractive":
        sys.exit("E: a configuration prompt would wait forever: DEBIAN_FRONTEND is not set")
    sources, stanzas = available(root), status(root)
    by_name = {s["Package"]: s for s in stanzas}
    out = ["Reading package lists...\nBuilding dependency tree...\nReading state information...\n"]
    for spec in _names(args):
        name, _, version = spec.partition("=")
        offer = sources.get(name)
        if offer is None or version not in ("", offer["Version"]):
            what = f"Version '{version}' for '{name}'" if offer else f"Package {name}"
            sys.stderr.write(
                f"E: {what} was not found\n" if offer else f"E: Unable to locate package {name}\n"
            )
            sys.exit(100)
        stanza = {
            "Package": name,
            "Status": INSTALLED,
            **{k: v for k, v in offer.items() if k != "Package"},
        }
        if name in by_name:
            by_name[name].clear()
            by_name[name].update(stanza)
        else:
            stanzas.append(stanza)
        version = offer["Version"]
        out.append(f"Unpacking {name} ({version}) ...\nSetting up {name} ({version}) ...\n")
    (root / STATUS).parent.mkdir(parents=True, exist_ok=True)
    (root / STATUS).write_text(_render(stanzas))
    return "".join(out)


def apt_get_remove(args: list[str], root: Path, stdin: str | None) -> str:
    stanzas = status(root)
    out = ["Reading package lists...\nBuilding dependency tree...\nReading state information...\n"]
    for stanza in stanzas:
        if stanza["Package"] in _names(args) and stanza["Status"] == INSTALLED:
            stanza["Status"] = "deinstall ok config-files"  # dpkg keeps the conffiles' record
            out.append(f"Removing {stanza['Package']} ({stanza['Version']}) ...\n")
    (root / STATUS).write_text(_render(stanzas))
    return "".join(out)


# -- dnf: the RPM database is binary, so a marker file stands for "nginx installed" --

DNF_MARKER = "var/lib/dnf/standin-nginx-installed"


def dnf_install(args: list[str], root: Path, stdin: str | None) -> str:
    (root / DNF_MARKER).parent.mkdir(parents=True, exist_ok=True)
    (root / DNF_MARKER).write_text(" ".join(args))
    return "\nInstalled:\n  nginx-2:1.20.1-14.el9_2.1.x86_64\n\nComplete!\n"


def dnf_info(args: list[str], root: Path, stdin: str | None) -> str:
    installed = (root / DNF_MARKER).exists()
    return capture(f"dnf/info-bash-nginx{'-installed' if installed else ''}.txt")
