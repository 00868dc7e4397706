"""The ``package`` family's declarations: installed software, through apt or dnf. Pure: no I/O.

Versions are the package manager's own strings: Debian's
``[epoch:]upstream[-revision]`` (``5.2.15-2+b8``), RPM's
``[epoch:]version-release`` (``5.1.8-6.el9``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, NoParams, Params, doc

Manager = Literal["apt", "dnf"]

# Debian policy's package names, plus the upper case RPM allows and an
# optional ":arch" qualifier; never a leading "-", so never an option.
# "(?!\n)$": Python's "$" would accept a final newline, JSON Schema's would not.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,199}(:[a-z0-9_-]+)?(?!\n)$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.+~:_-]{0,199}(?!\n)$"
# A shell-style pattern over names: name characters and the glob ones.
GLOB_PATTERN = r"^[A-Za-z0-9+._:*?\[\]!-]{1,200}(?!\n)$"
MAX_NAMES = 100

Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
Version = Annotated[str, msgspec.Meta(pattern=VERSION_PATTERN)]
Names = Annotated[
    list[Name], msgspec.Meta(min_length=1, max_length=MAX_NAMES), doc("Package names.")
]


def _check_unique(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise ValueError("names must not repeat a package")


class ListParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pattern: (
        Annotated[
            str,
            msgspec.Meta(pattern=GLOB_PATTERN),
            doc("Only names matching this shell-style pattern (`lib*`)."),
        ]
        | None
    ) = None


class GetParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[Name, doc("The package's name.")]


class InstallParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    names: Names
    versions: (
        Annotated[
            dict[str, Version],
            doc("Exact versions wanted, by package name; the others get the candidate version."),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        _check_unique(self.names)
        for name in self.versions or {}:
            if name not in self.names:
                raise ValueError(f"versions names {name!r}, which is not in names")


class RemoveParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    names: Names

    def __post_init__(self) -> None:
        _check_unique(self.names)


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the package results: a handler's dict with a key too many fails its test."""


class Package(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    version: str
    architecture: Annotated[str, doc("`amd64`, `x86_64`, `all`, `noarch`...")]


class ListResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    manager: Manager
    packages: Annotated[list[Package], doc("Installed packages, sorted by name.")]


class GetResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    manager: Manager
    name: str
    installed: Annotated[str | None, doc("The installed version; null when not installed.")]
    candidate: Annotated[
        str | None, doc("The version an install would pick; null when no source has it.")
    ]


class VersionDiff(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    before: Annotated[dict[str, str | None], doc("Installed version by name; null: absent.")]
    after: Annotated[dict[str, str | None], doc("The same after the run (or the dry run's).")]


class ChangeResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    manager: Manager
    diff: VersionDiff
    command: Annotated[
        list[str] | None,
        doc("The package manager's argv, run or (dry run) to be run; null: nothing to do."),
    ]


class RefreshResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    manager: Manager
    fetched: Annotated[list[str], doc("The sources that sent new metadata.")]
    command: Annotated[list[str], doc("The argv, run or (dry run) to be run.")]


class Upgradable(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    architecture: str
    installed: Annotated[str | None, doc("The version installed now.")]
    candidate: Annotated[str, doc("The version an upgrade would install.")]
    source: Annotated[str, doc("apt's suite (`bookworm-security`), dnf's repository.")]


class UpgradableResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    manager: Manager
    packages: list[Upgradable]


_BOTH = (
    " Uses apt on Debian and Ubuntu, dnf on the RHEL family (whichever is installed);"
    " skipped on a host with neither."
)

FAMILY = Family(
    name="package",
    summary="Installed software: list, inspect, install, remove, refresh (apt or dnf).",
    declarations=(
        Declaration(
            name="package.list",
            params=ListParams,
            result=ListResult,
            kind="read",
            summary="Installed packages with their versions.",
            description="From `dpkg-query -W` or `rpm -qa`." + _BOTH,
            example={"pattern": "openssl*"},
        ),
        Declaration(
            name="package.get",
            params=GetParams,
            result=GetResult,
            kind="read",
            summary="One package's installed and candidate versions.",
            description=(
                "From `apt-cache policy` or `dnf info`; a package no source knows has both"
                " null." + _BOTH
            ),
            example={"name": "bash"},
        ),
        Declaration(
            name="package.install",
            params=InstallParams,
            result=ChangeResult,
            kind="mutate",
            summary="Install packages, optionally at exact versions.",
            description=(
                "Installs the packages that are absent or at another version than asked"
                " (`DEBIAN_FRONTEND=noninteractive apt-get install -y`, keeping changed"
                " configuration files; `dnf install -y`). When every one is already there"
                " the installer is not run and `changed` is false. `diff` gives the"
                " installed versions before and after; a dry run runs only the read-only"
                " query and gives the versions it would install." + _BOTH
            ),
            example={"names": ["nginx", "curl"], "versions": {"curl": "7.88.1-10+deb12u5"}},
            dry_run=True,
        ),
        Declaration(
            name="package.remove",
            params=RemoveParams,
            result=ChangeResult,
            kind="mutate",
            summary="Remove packages (configuration files stay).",
            description=(
                "Removes those of the packages that are installed (`apt-get remove -y`,"
                " `dnf remove -y`); none installed: nothing runs, `changed` is false." + _BOTH
            ),
            example={"names": ["telnet"]},
            dry_run=True,
        ),
        Declaration(
            name="package.refresh",
            params=NoParams,
            result=RefreshResult,
            kind="mutate",
            summary="Refresh the package lists from the sources.",
            description=(
                "`apt-get update` or `dnf makecache`. `changed` is true when a source sent"
                " new metadata (apt's `Get:` lines, dnf's download lines) and false when"
                " every list was current. A dry run cannot know that without asking the"
                " sources: it runs nothing and reports `changed: true`, the command it"
                " would run, and no `fetched`." + _BOTH
            ),
            dry_run=True,
        ),
        Declaration(
            name="package.upgradable",
            params=NoParams,
            result=UpgradableResult,
            kind="read",
            summary="Installed packages with a newer version available.",
            description=(
                "From `apt list --upgradable` or `dnf check-update` (whose exit code 100"
                " means: there are updates), as of the last refresh." + _BOTH
            ),
        ),
    ),
)
