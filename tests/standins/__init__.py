"""Recording stand-ins for the tools that need root or systemd. I/O: writes a bin directory.

A stand-in is an executable named like the tool (``systemctl``,
``apt-get``, ``useradd``...) in a directory that a test puts first on the
agent's host path (``Host.path``, ``host_path`` in the agent's config), so
a handler runs it exactly as it would run the real tool. Each call is
recorded (argv and stdin) and answered by the first rule whose arguments
begin with the call's: output captured from the real tool (kept under
``tests/standins/captures/<tool>/``), an exit code, and optionally an
*effect*, a function that changes the real-format files under the host
root as the real tool would (``useradd`` appending to ``/etc/passwd``), so
that a second run of a mutation can see the first one's result.

    standins = Standins.create(tmp_path, root)
    standins.add("systemctl", Answer(("is-active",), stdout="active\\n"))
    host = Host(root, standins.path)
    ...
    assert standins.calls("systemctl") == [["is-active", "nginx.service"]]
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CAPTURES = Path(__file__).resolve().parent / "captures"


def capture(name: str) -> str:
    """A real tool's output kept as a fixture: ``capture("systemctl/list-units.txt")``."""
    return (CAPTURES / name).read_text()


@dataclass(frozen=True)
class Answer:
    """How a stand-in answers a call whose arguments begin with ``args``.

    ``effect``: ``"module:function"``, called as ``function(args, root,
    stdin)`` in the stand-in's process before it answers; what it returns
    (a string, or None) is printed after ``stdout``.
    """

    args: tuple[str, ...] = ()
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    effect: str = ""


@dataclass(frozen=True)
class Standins:
    bin: Path
    root: Path

    @classmethod
    def create(cls, workdir: Path, root: Path) -> Standins:
        bin_dir = workdir / "standins"
        bin_dir.mkdir(parents=True, exist_ok=True)
        return cls(bin_dir, root)

    @property
    def path(self) -> str:
        """A host path with the stand-ins first, then the machine's own tools."""
        return f"{self.bin}:{os.environ.get('PATH', os.defpath)}"

    @property
    def only(self) -> str:
        """A host path with the stand-ins alone: every other tool is missing."""
        return str(self.bin)

    def add(self, tool: str, *answers: Answer, otherwise: Answer | None = None) -> None:
        """Install ``tool``; a call no answer matches gets ``otherwise`` (exit 0, silent)."""
        rules = [asdict(a) for a in (*answers, otherwise or Answer())]
        spec = {"root": str(self.root), "rules": rules}
        (self.bin / f"{tool}.json").write_text(json.dumps(spec))
        program = self.bin / tool
        program.write_text(
            "#!/bin/sh\n"
            f'PYTHONPATH="{REPO}" exec "{sys.executable}" -m tests.standins.run'
            f' "{self.bin}" "{tool}" "$@"\n'
        )
        program.chmod(0o755)

    def calls(self, tool: str) -> list[list[str]]:
        """The argument lists ``tool`` was called with, in order (argv[0] left out)."""
        return [list(map(str, call["args"])) for call in self.records(tool)]

    def records(self, tool: str) -> list[dict[str, Any]]:
        """Each call as ``{"args": [...], "stdin": str | None}``."""
        log = self.bin / f"{tool}.calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]
