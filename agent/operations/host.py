"""The one way a handler reaches the host: a root for files and one command runner. I/O.

Every handler that reads or changes the host's configuration goes through a
:class:`Host`, so tests point it at a temporary root holding real-format
files (``/etc/passwd``, ``/etc/sysctl.d``...) and at a directory of recording
stand-ins for the tools that need root or systemd (tests/standins.py), and
never touch the machine they run on. ``root`` holds configuration and state
files; kernel state (``/proc``, ``/sys``) is always read live, since it is
the running kernel's whatever the root.

A tool that is not on the host's ``path``, or a service manager that is not
running, is :class:`OperationSkipped`: the host lacks what the operation
needs, which is not a failure of the operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.operations.errors import OperationFailed, OperationSkipped

# What a tool may print that corral keeps: enough for any listing it parses.
TOOL_OUTPUT_LIMIT = 16 * 1024 * 1024


# The agent's own settings (its NATS URL carries its password) and the
# service manager's sockets are not a child's business: a child that
# prints its environment would put them into a job record.
_PRIVATE_PREFIXES = ("CORRAL_", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_")


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The agent's environment without what is the agent's alone."""
    return {k: v for k, v in environ.items() if not k.startswith(_PRIVATE_PREFIXES)}


@dataclass(frozen=True)
class Ran:
    """A finished tool run."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    def reason(self) -> str:
        """The last line the tool printed on stderr (or stdout), for an error message."""
        for text in (self.stderr, self.stdout):
            lines = [line for line in text.strip().splitlines() if line.strip()]
            if lines:
                return lines[-1].strip()
        return ""


@dataclass(frozen=True)
class Written:
    """What :meth:`Host.write_file` did (or, on a dry run, would do)."""

    changed: bool
    before: bytes | None  # None: the file did not exist


@dataclass(frozen=True)
class Host:
    """The host as handlers see it.

    ``root``: where absolute host paths live (``/`` on a real host).
    ``path``: the ``PATH`` tools are looked up on and run with.
    """

    root: Path = Path("/")
    path: str = field(default_factory=lambda: os.environ.get("PATH", os.defpath))

    # -- files -------------------------------------------------------------

    def file(self, path: str) -> Path:
        """The local path of the host's absolute ``path``, never outside the root."""
        if not path.startswith("/"):
            raise OperationFailed(f"path must be absolute, got {path!r}")
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise OperationFailed(f"path must not contain '..': {path!r}")
        return self.root.joinpath(*parts)

    def read_bytes(self, path: str) -> bytes | None:
        """The file's content, or None when it does not exist."""
        try:
            return self.file(path).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise OperationFailed(f"cannot read {path}: {exc.strerror or exc}") from None

    def read_text(self, path: str) -> str | None:
        data = self.read_bytes(path)
        return None if data is None else data.decode("utf-8", errors="replace")

    def write_file(
        self,
        path: str,
        content: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        dry_run: bool = False,
    ) -> Written:
        """Make ``path`` hold ``content`` with that mode and owner; nothing if it already does.

        Atomic: a temporary file in the same directory, fsynced, then renamed
        over the old one, so a reader sees the old content or the new, never
        half. A mode or owner not given keeps the existing file's (new files:
        0644, the agent's user). Parent directories are created (0755).
        """
        target = self.file(path)
        before = self.read_bytes(path)
        current = _stat(target)
        want_mode = mode if mode is not None else (current[0] if current else 0o644)
        want_uid = uid if uid is not None else (current[1] if current else os.geteuid())
        want_gid = gid if gid is not None else (current[2] if current else os.getegid())
        if before == content and current == (want_mode, want_uid, want_gid):
            return Written(changed=False, before=before)
        if dry_run:
            return Written(changed=True, before=before)
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            _replace(target, content, want_mode, want_uid, want_gid)
        except OSError as exc:
            raise OperationFailed(f"cannot write {path}: {exc.strerror or exc}") from None
        return Written(changed=True, before=before)

    def remove_file(self, path: str, *, dry_run: bool = False) -> bytes | None:
        """Remove ``path``; its content before (None: it was not there)."""
        before = self.read_bytes(path)
        if before is not None and not dry_run:
            try:
                self.file(path).unlink()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise OperationFailed(f"cannot remove {path}: {exc.strerror or exc}") from None
        return before

    # -- tools and services --------------------------------------------------

    def which(self, tool: str) -> str | None:
        return shutil.which(tool, path=self.path)

    def require(self, *tools: str) -> str:
        """The first of ``tools`` that is installed, else :class:`OperationSkipped`."""
        for tool in tools:
            found = self.which(tool)
            if found is not None:
                return found
        names = " or ".join(tools)
        raise OperationSkipped(f"{names} is not installed on this host")

    def systemd_running(self) -> bool:
        # sd_booted(3)'s test: systemctl may be installed in a container
        # whose PID 1 is something else.
        return self.file("/run/systemd/system").is_dir()

    def require_systemd(self) -> None:
        if not self.systemd_running():
            raise OperationSkipped("systemd is not running on this host (no /run/systemd/system)")

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> Ran:
        """Run a tool found on ``path``, capturing its output.

        A tool that is not installed is :class:`OperationSkipped`; with
        ``check``, a non-zero exit is :class:`OperationFailed` naming the
        tool, its exit code and the last line it printed.
        """
        program = self.require(argv[0])
        environment = {**child_environment(os.environ), "PATH": self.path, "LC_ALL": "C"}
        process = await asyncio.create_subprocess_exec(
            program,
            *argv[1:],
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**environment, **(env or {})},
            limit=TOOL_OUTPUT_LIMIT,
            start_new_session=True,
        )
        try:
            # The job's own time limit (agent/executor.py) bounds the wait.
            out, err = await process.communicate(None if stdin is None else stdin.encode())
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.shield(process.wait())
            raise
        ran = Ran(
            argv=tuple(argv),
            exit_code=process.returncode if process.returncode is not None else -1,
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
        )
        if check and ran.exit_code != 0:
            said = ran.reason()
            raise OperationFailed(
                f"{' '.join(argv[:2])} exited with {ran.exit_code}" + (f": {said}" if said else "")
            )
        return ran


def _stat(target: Path) -> tuple[int, int, int] | None:
    try:
        info = target.stat()
    except FileNotFoundError:
        return None
    return info.st_mode & 0o7777, info.st_uid, info.st_gid


def _replace(target: Path, content: bytes, mode: int, uid: int, gid: int) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fchmod(out.fileno(), mode)
            if (uid, gid) != (os.geteuid(), os.getegid()):
                os.fchown(out.fileno(), uid, gid)
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
