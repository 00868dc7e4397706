"""The host's account database, read through the host seam, and crypt(3). Reads files.

/etc/passwd, /etc/group and /etc/shadow under the host root, parsed as the
shadow-utils tools write them (colon-separated, one entry a line; ``+``/``-``
NIS compat lines and malformed lines skipped). /etc/shadow is optional: an
agent that may not read it still lists users, with ``locked`` unknown.
``system`` follows /etc/login.defs (UID_MIN..UID_MAX, GID_MIN..GID_MAX).

The user and group families change these files only through the tools
(useradd, usermod, ...), never by writing them: the tools also keep
/etc/gshadow, nscd and SELinux labels right.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

from agent.operations.errors import OperationFailed
from agent.operations.host import Host
from common.operations.group import Group
from common.operations.user import User

# login.defs' defaults when it is missing or silent (shadow-utils' own).
_LOGIN_DEFAULTS = {"UID_MIN": 1000, "UID_MAX": 60000, "GID_MIN": 1000, "GID_MAX": 60000}


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    comment: str
    home: str
    shell: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Accounts:
    users: dict[str, PasswdEntry]
    groups: dict[str, GroupEntry]
    shadow: dict[str, str] | None  # name -> hash field; None: unreadable
    limits: dict[str, int]

    def user(self, name: str) -> PasswdEntry:
        try:
            return self.users[name]
        except KeyError:
            raise OperationFailed(f"no user named {name!r} in /etc/passwd") from None

    def group_named(self, ref: str) -> GroupEntry | None:
        """A group by name, or by decimal gid."""
        if ref in self.groups:
            return self.groups[ref]
        if ref.isdecimal():
            return next((g for g in self.groups.values() if g.gid == int(ref)), None)
        return None

    def require_group(self, ref: str) -> GroupEntry:
        group = self.group_named(ref)
        if group is None:
            raise OperationFailed(f"group {ref!r} does not exist")
        return group

    def uid_of(self, ref: str) -> int:
        """A user's uid by name, or a decimal uid as is."""
        return int(ref) if ref.isdecimal() else self.user(ref).uid

    def gid_of(self, ref: str) -> int:
        """A group's gid by name, or a decimal gid as is."""
        return int(ref) if ref.isdecimal() else self.require_group(ref).gid

    def user_of(self, uid: int) -> str:
        """The name of ``uid``, or the number itself when no user has it."""
        return next((u.name for u in self.users.values() if u.uid == uid), str(uid))

    def group_of(self, gid: int) -> str | None:
        return next((g.name for g in self.groups.values() if g.gid == gid), None)

    def supplementary(self, name: str) -> list[str]:
        return sorted(g.name for g in self.groups.values() if name in g.members)

    def locked(self, name: str) -> bool | None:
        if self.shadow is None or name not in self.shadow:
            return None
        field = self.shadow[name]
        return field.startswith("!") or field in ("*", "")

    def user_record(self, entry: PasswdEntry) -> User:
        return User(
            name=entry.name,
            uid=entry.uid,
            gid=entry.gid,
            group=self.group_of(entry.gid),
            groups=self.supplementary(entry.name),
            comment=entry.comment,
            home=entry.home,
            shell=entry.shell,
            system=not self.limits["UID_MIN"] <= entry.uid <= self.limits["UID_MAX"],
            locked=self.locked(entry.name),
        )

    def group_record(self, entry: GroupEntry) -> Group:
        return Group(
            name=entry.name,
            gid=entry.gid,
            members=list(entry.members),
            system=not self.limits["GID_MIN"] <= entry.gid <= self.limits["GID_MAX"],
        )


def read_accounts(host: Host) -> Accounts:
    passwd = host.read_text("/etc/passwd")
    if passwd is None:
        raise OperationFailed("/etc/passwd does not exist on this host")
    try:
        shadow_text = host.read_text("/etc/shadow")
    except OperationFailed:  # not ours to read: lock state is then unknown
        shadow_text = None
    return Accounts(
        users={e.name: e for e in parse_passwd(passwd)},
        groups={e.name: e for e in parse_group(host.read_text("/etc/group") or "")},
        shadow=None if shadow_text is None else parse_shadow(shadow_text),
        limits=parse_login_defs(host.read_text("/etc/login.defs") or ""),
    )


def _fields(text: str, count: int) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) == count and fields[0] and not fields[0].startswith(("+", "-", "#")):
            rows.append(fields)
    return rows


def parse_passwd(text: str) -> list[PasswdEntry]:
    return [
        PasswdEntry(name, int(uid), int(gid), comment, home, shell)
        for name, _, uid, gid, comment, home, shell in _fields(text, 7)
        if uid.isdecimal() and gid.isdecimal()
    ]


def parse_group(text: str) -> list[GroupEntry]:
    return [
        GroupEntry(name, int(gid), tuple(m for m in members.split(",") if m))
        for name, _, gid, members in _fields(text, 4)
        if gid.isdecimal()
    ]


def parse_shadow(text: str) -> dict[str, str]:
    return {fields[0]: fields[1] for fields in _fields(text, 9)}


def parse_login_defs(text: str) -> dict[str, int]:
    limits = dict(_LOGIN_DEFAULTS)
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in limits and words[1].isdecimal():
            limits[words[0]] = int(words[1])
    return limits


@functools.cache
def _libcrypt() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("crypt")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)
    except OSError:
        return None
    library.crypt.restype = ctypes.c_char_p
    library.crypt.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
    return library


def crypt(secret: str, setting: str) -> str | None:
    """crypt(3) of the host's libcrypt, as PAM and chpasswd use it; None if it cannot.

    ``setting`` is a salt string (``$6$salt``) or a whole stored hash; a
    method this libcrypt lacks, or no libcrypt at all, gives None.
    """
    library = _libcrypt()
    if library is None:
        return None
    out = library.crypt(secret.encode(), setting.encode())
    if not out or out.startswith(b"*"):  # libxcrypt's failure tokens "*0", "*1"
        return None
    return bytes(out).decode()


def hash_matches(secret: str, stored: str) -> bool | None:
    """Whether ``stored`` is a hash of ``secret``; None when it cannot be told."""
    if not stored.startswith("$"):  # locked ("!..."), none ("*", "") or DES: never ours
        return False
    again = crypt(secret, stored)
    return None if again is None else again == stored
