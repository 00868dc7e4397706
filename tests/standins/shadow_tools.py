"""Effects for the stand-ins of shadow-utils' account tools (tests/standins/__init__.py).

Each function does to the host root's /etc/passwd, /etc/group and
/etc/shadow what the real tool does on Debian 12 (shadow 4.13, with
USERGROUPS_ENAB yes), for the options corral's handlers pass, and fails
like it: the message on stderr and the exit code its manual page gives
(useradd(8): 4 UID in use, 6 no such group, 9 name in use; ...).
/etc/gshadow, /etc/skel, nscd and SELinux are left out.

    standins.add("useradd", otherwise=Answer(effect="tests.standins.shadow_tools:useradd"))
"""

from __future__ import annotations

import contextlib
import getopt
import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import NoReturn

from agent.operations.accounts import crypt, parse_login_defs
from tests.standins import CAPTURES, Answer, Standins

# Debian's /etc/default/useradd says SHELL=/bin/sh; SYS_UID_MIN..MAX 100..999.
DEFAULT_SHELL = "/bin/sh"
SYSTEM_RANGE = (100, 999)
ALL = ("useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "gpasswd", "chpasswd")


def effect(tool: str) -> str:
    """The ``effect`` of a stand-in for ``tool``."""
    return f"{__name__}:{tool}"


def _fail(tool: str, code: int, message: str) -> NoReturn:
    sys.stderr.write(f"{tool}: {message}\n")
    raise SystemExit(code)


class Files:
    """The three files as rows of fields, written back whole."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows = {name: self._read(name) for name in ("passwd", "group", "shadow")}
        self.limits = parse_login_defs(self._text("login.defs"))

    def _text(self, name: str) -> str:
        path = self.root / "etc" / name
        return path.read_text() if path.exists() else ""

    def _read(self, name: str) -> list[list[str]]:
        return [line.split(":") for line in self._text(name).splitlines() if line]

    def save(self) -> None:
        for name, rows in self.rows.items():
            lines = "".join(":".join(row) + "\n" for row in rows)
            (self.root / "etc" / name).write_text(lines)

    def find(self, name: str, what: str) -> list[str] | None:
        return next((row for row in self.rows[what] if row[0] == name), None)

    def group(self, ref: str) -> list[str] | None:
        """By name, or by gid when ``ref`` is a number."""
        found = self.find(ref, "group")
        if found is None and ref.isdecimal():
            found = next((row for row in self.rows["group"] if row[2] == ref), None)
        return found

    def resolved(self, ref: str) -> list[str]:
        """A group the caller checked exists."""
        found = self.group(ref)
        assert found is not None
        return found

    def ids(self, what: str) -> set[int]:
        return {int(row[2]) for row in self.rows[what]}

    def next_id(self, what: str, system: bool) -> int:
        used = self.ids(what)
        if system:
            low, high = SYSTEM_RANGE
            return next(i for i in range(high, low - 1, -1) if i not in used)
        key = "UID" if what == "passwd" else "GID"
        low, high = self.limits[f"{key}_MIN"], self.limits[f"{key}_MAX"]
        return max([low - 1, *(i for i in used if low <= i <= high)]) + 1

    def set_members(self, row: list[str], members: list[str]) -> None:
        row[3] = ",".join(members)

    def members(self, row: list[str]) -> list[str]:
        return [m for m in row[3].split(",") if m]


def _today() -> str:
    return str(int(time.time() // 86400))


def _chown(path: Path, uid: int, gid: int) -> None:
    # The real tool runs as root; a test that does not can keep its own owner.
    with contextlib.suppress(PermissionError):
        os.chown(path, uid, gid)


def useradd(args: list[str], root: Path, stdin: str | None) -> None:
    options, (name,) = getopt.getopt(args, "c:d:g:G:mMNrs:u:")
    opts = dict(options)
    files = Files(root)
    if files.find(name, "passwd"):
        _fail("useradd", 9, f"user '{name}' already exists")
    system = "-r" in opts
    if "-u" in opts and int(opts["-u"]) in files.ids("passwd"):
        _fail("useradd", 4, f"UID {opts['-u']} is not unique")
    uid = int(opts["-u"]) if "-u" in opts else files.next_id("passwd", system)
    supplementary = [g for g in opts.get("-G", "").split(",") if g]
    for ref in [opts.get("-g", ""), *supplementary]:
        if ref and files.group(ref) is None:
            _fail("useradd", 6, f"group '{ref}' does not exist")
    if "-g" in opts:
        gid = int(files.resolved(opts["-g"])[2])
    else:
        if files.find(name, "group"):
            _fail("useradd", 9, "group " + name + " exists - if you want to add this user to"
                  " that group, use -g.")  # fmt: skip
        gid = uid if uid not in files.ids("group") else files.next_id("group", system)
        files.rows["group"].append([name, "x", str(gid), ""])
    for ref in supplementary:
        row = files.resolved(ref)
        files.set_members(row, [*files.members(row), name])
    home = opts.get("-d", f"/home/{name}")
    shell = opts.get("-s", DEFAULT_SHELL)
    files.rows["passwd"].append([name, "x", str(uid), str(gid), opts.get("-c", ""), home, shell])
    ageing = ["", "", "", ""] if system else ["0", "99999", "7", ""]
    files.rows["shadow"].append([name, "!", _today(), *ageing, "", ""])
    files.save()
    if "-m" in opts:
        directory = root / home.lstrip("/")
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        _chown(directory, uid, gid)


def usermod(args: list[str], root: Path, stdin: str | None) -> None:
    options, (name,) = getopt.getopt(args, "ac:d:g:G:Lmp:s:u:U")
    opts = dict(options)
    files = Files(root)
    row = files.find(name, "passwd")
    if row is None:
        _fail("usermod", 6, f"user '{name}' does not exist")
    _check_usermod(files, name, opts)
    if "-u" in opts:
        row[2] = opts["-u"]
    if "-g" in opts:
        row[3] = files.resolved(opts["-g"])[2]
    for flag, index in (("-c", 4), ("-s", 6)):
        if flag in opts:
            row[index] = opts[flag]
    if "-d" in opts:
        _move_home(root, row, opts["-d"], "-m" in opts)
    if "-G" in opts:
        _set_groups(files, name, opts["-G"], append="-a" in opts)
    _shadow_flags(files, name, opts)
    files.save()


def _check_usermod(files: Files, name: str, opts: dict[str, str]) -> None:
    if "-u" in opts and any(r[2] == opts["-u"] and r[0] != name for r in files.rows["passwd"]):
        _fail("usermod", 4, f"UID '{opts['-u']}' already exists")
    for ref in [opts.get("-g", ""), *opts.get("-G", "").split(",")]:
        if ref and files.group(ref) is None:
            _fail("usermod", 6, f"group '{ref}' does not exist")


def _move_home(root: Path, row: list[str], home: str, move: bool) -> None:
    old, row[5] = row[5], home
    source = root / old.lstrip("/")
    if move and source.is_dir():
        target = root / home.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)


def _set_groups(files: Files, name: str, given: str, append: bool) -> None:
    wanted = {files.resolved(g)[0] for g in given.split(",") if g}
    for group in files.rows["group"]:
        members = files.members(group)
        if group[0] in wanted and name not in members:
            files.set_members(group, [*members, name])
        elif group[0] not in wanted and name in members and not append:
            files.set_members(group, [m for m in members if m != name])


def _shadow_flags(files: Files, name: str, opts: dict[str, str]) -> None:
    row = files.find(name, "shadow")
    if row is None:
        return
    if "-p" in opts:
        row[1] = opts["-p"]
    if "-L" in opts and not row[1].startswith("!"):
        row[1] = "!" + row[1]
    if "-U" in opts and row[1].startswith("!"):
        if row[1] == "!":
            sys.stderr.write(
                "usermod: unlocking the user's password would result in a passwordless"
                " account.\nYou should set a password with usermod -p to unlock this user's"
                " password.\n"
            )
            return
        row[1] = row[1][1:]


def userdel(args: list[str], root: Path, stdin: str | None) -> None:
    options, (name,) = getopt.getopt(args, "fr")
    files = Files(root)
    row = files.find(name, "passwd")
    if row is None:
        _fail("userdel", 6, f"user '{name}' does not exist")
    files.rows["passwd"].remove(row)
    files.rows["shadow"] = [r for r in files.rows["shadow"] if r[0] != name]
    for group in files.rows["group"]:
        files.set_members(group, [m for m in files.members(group) if m != name])
    own = files.find(name, "group")
    still_primary = any(r[3] == row[3] for r in files.rows["passwd"])
    if own and own[2] == row[3] and not files.members(own) and not still_primary:
        files.rows["group"].remove(own)  # USERGROUPS_ENAB: the user's own group goes too
    files.save()
    if ("-r", "") in options:
        for path in (root / row[5].lstrip("/"), root / "var/mail" / name):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def groupadd(args: list[str], root: Path, stdin: str | None) -> None:
    options, (name,) = getopt.getopt(args, "g:r")
    opts = dict(options)
    files = Files(root)
    if files.find(name, "group"):
        _fail("groupadd", 9, f"group '{name}' already exists")
    if "-g" in opts and int(opts["-g"]) in files.ids("group"):
        _fail("groupadd", 4, f"GID '{opts['-g']}' already exists")
    gid = int(opts["-g"]) if "-g" in opts else files.next_id("group", "-r" in opts)
    files.rows["group"].append([name, "x", str(gid), ""])
    files.save()


def groupmod(args: list[str], root: Path, stdin: str | None) -> None:
    options, (name,) = getopt.getopt(args, "g:")
    opts = dict(options)
    files = Files(root)
    row = files.find(name, "group")
    if row is None:
        _fail("groupmod", 6, f"group '{name}' does not exist")
    if "-g" in opts:
        if any(r[2] == opts["-g"] and r[0] != name for r in files.rows["group"]):
            _fail("groupmod", 4, f"GID '{opts['-g']}' already exists")
        for user in files.rows["passwd"]:  # shadow 4.13 moves its primary members along
            if user[3] == row[2]:
                user[3] = opts["-g"]
        row[2] = opts["-g"]
    files.save()


def groupdel(args: list[str], root: Path, stdin: str | None) -> None:
    _, (name,) = getopt.getopt(args, "f")
    files = Files(root)
    row = files.find(name, "group")
    if row is None:
        _fail("groupdel", 6, f"group '{name}' does not exist")
    for user in files.rows["passwd"]:
        if user[3] == row[2]:
            _fail("groupdel", 8, f"cannot remove the primary group of user '{user[0]}'")
    files.rows["group"].remove(row)
    files.save()


def gpasswd(args: list[str], root: Path, stdin: str | None) -> None:
    options, (name,) = getopt.getopt(args, "M:")
    files = Files(root)
    row = files.find(name, "group")
    if row is None:
        _fail("gpasswd", 3, f"group '{name}' does not exist in /etc/group")
    members = [m for m in dict(options).get("-M", "").split(",") if m]
    for member in members:
        if files.find(member, "passwd") is None:
            _fail("gpasswd", 3, f"user '{member}' does not exist")
    files.set_members(row, members)
    files.save()


def chpasswd(args: list[str], root: Path, stdin: str | None) -> None:
    """Each ``name:password`` line of stdin; ``-e``: the password is a hash already."""
    options, _ = getopt.getopt(args, "e")
    files = Files(root)
    for number, line in enumerate((stdin or "").splitlines(), start=1):
        name, _, secret = line.partition(":")
        row = files.find(name, "shadow")
        if row is None:
            _fail("chpasswd", 1, f"line {number}: user '{name}' does not exist")
        if ("-e", "") not in options:
            # ENCRYPT_METHOD SHA512 in the fixture's login.defs; a fresh salt each time.
            hashed = crypt(secret, "$6$" + secrets.token_hex(8))
            assert hashed is not None, "this machine's libcrypt cannot hash SHA-512"
            secret = hashed
        row[1], row[2] = secret, _today()
    files.save()


def account_root(workdir: Path) -> tuple[Path, Standins]:
    """A host root holding the Debian fixture's account files, and every tool's stand-in.

    The stand-ins are all there is on their path (``standins.only``): a
    handler that ran a tool without a stand-in would be skipped, never run
    this machine's own useradd.
    """
    root = workdir / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "login.defs"):
        shutil.copy(CAPTURES / "accounts" / name, root / "etc" / name)
    (root / "etc/shadow").chmod(0o640)
    (root / "home/alice").mkdir(parents=True)
    standins = Standins.create(workdir, root)
    for tool in ALL:
        standins.add(tool, otherwise=Answer(effect=effect(tool)))
    return root, standins
