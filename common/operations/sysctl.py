"""The ``sysctl`` family's declarations: kernel parameters, live and in drop-ins. Pure: no I/O.

A key is written the way ``sysctl`` prints it, dots between the levels of
``/proc/sys`` (``net.ipv4.ip_forward``), or as a path with slashes
(``net/ipv4/ip_forward``); in the dotted form a dot that belongs to a name
(an interface ``eth0.100``) is written as a slash, as ``sysctl -a`` does
(``net.ipv4.conf.eth0/100.forwarding``). Results always use the dotted form.

Values are compared and shown with runs of whitespace made single spaces
(the kernel separates the numbers of ``net.ipv4.tcp_rmem`` with tabs).
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from common.operations.declaration import Declaration, Family, Params, doc

KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
KEY_MAX = 255
VALUE_MAX = 4096
DROP_IN_DIR = "/etc/sysctl.d"


def swap_separators(key: str) -> str:
    """Dots become slashes and slashes dots: the dotted form and the path form of a key."""
    return key.translate(str.maketrans("./", "/."))


def key_path(key: str) -> str:
    """The key as a path under /proc/sys (``net/ipv4/ip_forward``), like procps reads it."""
    first = re.search(r"[./]", key)
    return swap_separators(key) if first is not None and first.group() == "." else key


def dotted(key: str) -> str:
    """The key as ``sysctl`` prints it (``net.ipv4.ip_forward``)."""
    return swap_separators(key_path(key))


def drop_in_file(key: str) -> str:
    """Where ``sysctl.set`` keeps one key: a slash cannot be in a file name, so ':' stands in."""
    return f"{DROP_IN_DIR}/90-corral-{dotted(key).replace('/', ':')}.conf"


def check_key(name: str, key: str | None) -> None:
    if key is None:
        return
    if len(key) > KEY_MAX or not KEY_RE.fullmatch(key):
        raise ValueError(
            f"{name} must be dotted (net.ipv4.ip_forward) or a path (net/ipv4/ip_forward)"
            f" of letters, digits, '_', '-', '.', '/', at most {KEY_MAX} characters; got {key!r}"
        )
    levels = key_path(key).split("/")
    if any(level in ("", ".", "..") for level in levels):
        raise ValueError(f"{name} has an empty, '.' or '..' level: {key!r}")


def normalize(value: str) -> str:
    """A value as corral compares and shows it: whitespace runs made one space."""
    return " ".join(value.split())


class ListParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    prefix: Annotated[
        str | None,
        doc("Only keys under this one (`net.ipv4`); every key when left out."),
    ] = None

    def __post_init__(self) -> None:
        check_key("prefix", self.prefix)


class KeyParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: Annotated[str, doc("The key, dotted (`vm.swappiness`) or as a path.")]

    def __post_init__(self) -> None:
        check_key("key", self.key)


class SetParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: Annotated[str, doc("The key, dotted (`vm.swappiness`) or as a path.")]
    value: Annotated[
        str | int, doc("The value; several numbers separated by spaces (`4096 131072 6291456`).")
    ]

    def __post_init__(self) -> None:
        check_key("key", self.key)
        text = str(self.value)
        if not normalize(text) or len(text) > VALUE_MAX:
            raise ValueError(f"value must be non-empty and at most {VALUE_MAX} characters")
        if any(c in text for c in "\n\r\0"):
            raise ValueError("value must be one line without NUL characters")

    @property
    def text(self) -> str:
        return normalize(str(self.value))


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the sysctl results: a handler's dict with a key too many fails its test."""


class Entry(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: str
    value: Annotated[str | None, doc("Live, from /proc/sys; null when unreadable or absent.")] = (
        None
    )
    configured: Annotated[str | None, doc("What the drop-ins set it to at boot.")] = None
    set_by: Annotated[str | None, doc("The file whose setting wins, when one does.")] = None


class ListResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    entries: Annotated[list[Entry], doc("Readable keys, and keys set by drop-ins, sorted by key.")]


class GetResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: str
    value: Annotated[str, doc("Live, from /proc/sys.")]
    drop_in: Annotated[str | None, doc("The value in corral's drop-in, if corral set one.")]
    drop_in_file: Annotated[str, doc("Where corral keeps it (whether or not it exists).")]
    configured: Annotated[str | None, doc("What all the drop-ins together set at boot.")]
    set_by: Annotated[str | None, doc("The file whose setting wins.")]


class State(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    live: str | None
    drop_in: str | None


class Diff(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    before: State
    after: State


class SetResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: str
    value: str
    drop_in_file: str
    applied: Annotated[
        bool, doc("Whether `sysctl -p` ran (not on a dry run, nor when nothing changed).")
    ]
    diff: Diff


class DeleteResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: str
    drop_in_file: str
    removed: Annotated[bool, doc("Whether the drop-in was there (on a dry run: would be removed).")]
    note: Annotated[str, doc("The live value stays until the next boot.")]
    diff: Diff


_SYNTAX = (
    " Keys are dotted (`net.ipv4.ip_forward`) or paths (`net/ipv4/ip_forward`);"
    " values are shown with whitespace runs made one space."
)

FAMILY = Family(
    name="sysctl",
    summary="Kernel parameters: live values from /proc/sys and corral's /etc/sysctl.d drop-ins.",
    declarations=(
        Declaration(
            name="sysctl.list",
            params=ListParams,
            result=ListResult,
            kind="read",
            summary="Kernel parameters, live, with the drop-in that sets each.",
            description=(
                "Every readable key under /proc/sys (or under `prefix`), and for each the"
                " value the drop-ins (/etc/sysctl.d, /run/sysctl.d, /usr/lib/sysctl.d,"
                " /etc/sysctl.conf, in systemd-sysctl's order) set at boot and the file"
                " that sets it." + _SYNTAX
            ),
            example={"prefix": "net.ipv4"},
        ),
        Declaration(
            name="sysctl.get",
            params=KeyParams,
            result=GetResult,
            kind="read",
            summary="One kernel parameter, live, and corral's drop-in value.",
            description=(
                "The live value from /proc/sys, the value of corral's drop-in"
                " (/etc/sysctl.d/90-corral-<key>.conf) if it set one, and what the drop-ins"
                " together set at boot. A key the kernel does not have fails." + _SYNTAX
            ),
            example={"key": "vm.swappiness"},
        ),
        Declaration(
            name="sysctl.set",
            params=SetParams,
            result=SetResult,
            kind="mutate",
            summary="Set a kernel parameter now and at boot.",
            description=(
                "Writes /etc/sysctl.d/90-corral-<key>.conf (atomically, only when it"
                " differs) and applies it with `sysctl -p <file>` when the file or the live"
                " value differs; if `sysctl` refuses, the drop-in is put back as it was."
                " `diff` holds the live and drop-in values before and after. A key the"
                " kernel does not have fails; a host without `sysctl` is skipped." + _SYNTAX
            ),
            example={"key": "vm.swappiness", "value": 10},
            dry_run=True,
        ),
        Declaration(
            name="sysctl.delete",
            params=KeyParams,
            result=DeleteResult,
            kind="mutate",
            summary="Remove corral's drop-in for a kernel parameter.",
            description=(
                "Removes /etc/sysctl.d/90-corral-<key>.conf. The live value is left as it"
                " is until the next boot (or until another drop-in is applied): the kernel"
                " keeps no record of the value it had before." + _SYNTAX
            ),
            example={"key": "vm.swappiness"},
            dry_run=True,
        ),
    ),
)
