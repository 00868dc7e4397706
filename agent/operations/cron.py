"""The ``cron.*`` operations: corral's jobs in /etc/cron.d. I/O via the host seam.

Each job is one file, /etc/cron.d/corral-<name>, that corral writes whole
and reads back: a header, ``# interval: 15m`` when it was given as one,
the environment lines and one entry. Files of /etc/cron.d that corral did
not write are listed, never changed. The cron daemon (vixie cron's
``cron``, cronie's ``crond``) notices changed files by itself, so no tool
runs; a host without either is skipped.
"""

from __future__ import annotations

import re

from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.diff import unified
from agent.operations.host import Host
from common.operations.cron import (
    CRON_DIR,
    PREFIX,
    CreateParams,
    NameParams,
    UpdateParams,
    file_of,
    schedule_of,
)
from common.operations.declaration import NoParams, OperationResult

HEADER = "# Managed by corral (cron.create, cron.update); cron.delete removes it.\n"
INTERVAL_MARK = "# interval: "
_ENV_LINE = re.compile(r"\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*)")
Job = dict[str, object]


def require_cron(host: Host) -> None:
    host.require("cron", "crond")


# -- the file format -----------------------------------------------------------


def _quote(value: str) -> str:
    # cron trims blanks around a value unless it is quoted.
    needs = value != value.strip() or value[:1] in ("'", '"')
    return f'"{value}"' if needs else value


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in ("'", '"'):
        return value[1:-1]
    return value


def render(job: Job) -> bytes:
    lines = [HEADER]
    if job["interval"]:
        lines.append(f"{INTERVAL_MARK}{job['interval']}\n")
    env = job["env"]
    assert isinstance(env, dict)
    lines += [f"{name}={_quote(value)}\n" for name, value in env.items()]
    # An unescaped % ends the command for cron; the rest becomes its stdin.
    command = str(job["command"]).replace("%", "\\%")
    lines.append(f"{job['schedule']} {job['user']} {command}\n")
    return "".join(lines).encode()


def parse(text: str) -> tuple[dict[str, str], list[dict[str, str]], str | None]:
    """A cron.d file: its variables, its entries and corral's interval mark."""
    env: dict[str, str] = {}
    entries: list[dict[str, str]] = []
    interval = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(INTERVAL_MARK):
            interval = line[len(INTERVAL_MARK) :].strip()
        if not line or line.startswith("#"):
            continue
        if line[0] not in "@*0123456789" and (match := _ENV_LINE.fullmatch(line)):
            env[match["name"]] = _unquote(match["value"])
            continue
        fields = line.split(None, 2 if line.startswith("@") else 6)
        if len(fields) == (3 if line.startswith("@") else 7):
            *schedule, user, command = fields
            entries.append({"schedule": " ".join(schedule), "user": user, "command": command})
    return env, entries, interval


def read_job(host: Host, name: str) -> Job | None:
    path = file_of(name)
    text = host.read_text(path)
    if text is None:
        return None
    env, entries, interval = parse(text)
    if not entries:
        raise OperationFailed(f"{path} holds no cron entry; remove it or recreate the job")
    entry = entries[0]
    return {
        "name": name,
        "file": path,
        "schedule": entry["schedule"],
        "interval": interval,
        "user": entry["user"],
        "command": entry["command"].replace("\\%", "%"),
        "env": env,
    }


def _missing(name: str) -> OperationFailed:
    return OperationFailed(f"no cron job {name!r}: {file_of(name)} does not exist")


# -- handlers ------------------------------------------------------------------


async def list_jobs(params: NoParams, ctx: OperationContext) -> OperationResult:
    host = ctx.host
    require_cron(host)
    directory = host.file(CRON_DIR)
    names = sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
    jobs, others = [], []
    for name in names:
        if name.startswith("."):
            continue  # a write in progress, or a file cron ignores
        if name.startswith(PREFIX):
            jobs.append(read_job(host, name[len(PREFIX) :]))
            continue
        path = f"{CRON_DIR}/{name}"
        env, entries, _ = parse(host.read_text(path) or "")
        others.append({"file": path, "env": env, "entries": entries})
    return OperationResult(data={"jobs": jobs, "other_files": others})


async def get(params: NameParams, ctx: OperationContext) -> OperationResult:
    require_cron(ctx.host)
    job = read_job(ctx.host, params.name)
    if job is None:
        raise _missing(params.name)
    return OperationResult(data=job)


def _write(ctx: OperationContext, job: Job) -> OperationResult:
    path = str(job["file"])
    content = render(job)
    written = ctx.host.write_file(path, content, mode=0o644, dry_run=ctx.dry_run)
    diff = unified(path, written.before, content) if written.changed else ""
    return OperationResult(
        data={"name": job["name"], "file": path, "job": job, "diff": diff},
        changed=written.changed,
    )


async def create(params: CreateParams, ctx: OperationContext) -> OperationResult:
    require_cron(ctx.host)
    job: Job = {
        "name": params.name,
        "file": file_of(params.name),
        "schedule": _schedule(params.schedule, params.interval),
        "interval": params.interval,
        "user": params.user,
        "command": params.command,
        "env": dict(params.env),
    }
    existing = ctx.host.read_bytes(file_of(params.name))
    if existing is not None and existing != render(job):
        raise OperationFailed(
            f"cron job {params.name!r} exists with other content; use cron.update to change it"
        )
    return _write(ctx, job)


def _schedule(schedule: str | None, interval: str | None) -> str:
    if interval is not None:
        return schedule_of(interval)
    assert schedule is not None  # the params demand one of them
    return " ".join(schedule.split())


async def update(params: UpdateParams, ctx: OperationContext) -> OperationResult:
    require_cron(ctx.host)
    job = read_job(ctx.host, params.name)
    if job is None:
        raise OperationFailed(f"no cron job {params.name!r} to update; use cron.create")
    if params.schedule is not None or params.interval is not None:
        job["schedule"] = _schedule(params.schedule, params.interval)
        job["interval"] = params.interval
    for field in ("user", "command", "env"):
        given = getattr(params, field)
        if given is not None:
            job[field] = given
    return _write(ctx, job)


async def delete(params: NameParams, ctx: OperationContext) -> OperationResult:
    require_cron(ctx.host)
    path = file_of(params.name)
    before = ctx.host.remove_file(path, dry_run=ctx.dry_run)
    return OperationResult(
        data={"name": params.name, "file": path, "job": None, "diff": unified(path, before, None)},
        changed=before is not None,
    )


HANDLERS: dict[str, Handler] = {
    "cron.list": list_jobs,
    "cron.get": get,
    "cron.create": create,
    "cron.update": update,
    "cron.delete": delete,
}
