"""User and group names to ids and back, from the host's /etc/passwd and /etc/group. I/O.

Read under the host root (agent/operations/host.py), never through the
agent's own NSS (``pwd``/``grp``): the files deployed are the host's, and in
tests the root is a temporary directory with its own accounts. Accounts
only in a directory service (LDAP, sssd) are not seen; give their number.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.operations.base import OperationFailed
from agent.operations.host import Host

PASSWD = "/etc/passwd"  # noqa: S105 - the file's path, not a password
GROUP = "/etc/group"


@dataclass(frozen=True)
class Table:
    """One of the two files: names by id and ids by name (the first entry wins)."""

    path: str
    ids: dict[str, int]
    names: dict[int, str]

    @classmethod
    def read(cls, host: Host, path: str) -> Table:
        ids: dict[str, int] = {}
        names: dict[int, str] = {}
        for line in (host.read_text(path) or "").splitlines():
            fields = line.split(":")
            if len(fields) < 3 or not fields[2].isdigit() or line.startswith("#"):
                continue
            ids.setdefault(fields[0], int(fields[2]))
            names.setdefault(int(fields[2]), fields[0])
        return cls(path, ids, names)

    def id_of(self, name: str) -> int:
        """The id of ``name`` (a number is taken as is), or :class:`OperationFailed`."""
        if name.isdigit():
            return int(name)
        found = self.ids.get(name)
        if found is None:
            raise OperationFailed(f"{name!r} is not in the host's {self.path}")
        return found

    def name_of(self, number: int) -> str:
        """The name of id ``number``, or the number itself when it has none."""
        return self.names.get(number, str(number))


def users(host: Host) -> Table:
    return Table.read(host, PASSWD)


def groups(host: Host) -> Table:
    return Table.read(host, GROUP)
