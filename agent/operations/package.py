"""The ``package.*`` operations: installed software through apt or dnf. I/O (runs the tools).

The host's manager is apt where ``apt-get`` is installed, else dnf; with
neither the operation is skipped (agent/operations/package_managers.py).

Install and remove first ask the manager which packages are installed at
which version (a read-only query), and run the installer only for those
that differ from what was asked, so a second identical run changes nothing
and reports ``changed: false``. After a real run they ask again, so
``diff.after`` and ``changed`` say what the host holds, not what was
hoped. A dry run stops after the first query: ``diff.after`` holds the
versions it would install (the asked one, else the candidate).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.package_managers import Manager, State, manager_of
from common.operations.declaration import NoParams, OperationResult
from common.operations.package import GetParams, InstallParams, ListParams, RemoveParams


async def list_packages(params: ListParams, ctx: OperationContext) -> OperationResult:
    manager = manager_of(ctx.host)
    packages = await manager.installed(ctx.host)
    if params.pattern is not None:
        packages = [p for p in packages if fnmatchcase(p["name"], params.pattern)]
    packages.sort(key=lambda p: (p["name"], p["architecture"]))
    return OperationResult(data={"manager": manager.name, "packages": packages})


async def get_package(params: GetParams, ctx: OperationContext) -> OperationResult:
    manager = manager_of(ctx.host)
    state = (await manager.states(ctx.host, [params.name]))[params.name]
    return OperationResult(
        data={
            "manager": manager.name,
            "name": params.name,
            "installed": state.installed,
            "candidate": state.candidate,
        }
    )


def _known(manager: Manager, states: dict[str, State], names: list[str]) -> None:
    unknown = [n for n in names if states[n] == State(None, None)]
    if unknown:
        raise OperationFailed(
            f"no {manager.name} source has {', '.join(unknown)} (refresh the package lists?)"
        )


async def _installed_now(
    manager: Manager, ctx: OperationContext, names: list[str]
) -> dict[str, str | None]:
    return {n: s.installed for n, s in (await manager.states(ctx.host, names)).items()}


def _changed(
    manager: Manager,
    before: dict[str, str | None],
    after: dict[str, str | None],
    argv: list[str] | None,
) -> OperationResult:
    data = {"manager": manager.name, "diff": {"before": before, "after": after}, "command": argv}
    return OperationResult(data=data, changed=before != after)


async def install(params: InstallParams, ctx: OperationContext) -> OperationResult:
    manager = manager_of(ctx.host)
    wanted = params.versions or {}
    states = await manager.states(ctx.host, params.names)
    before = {n: s.installed for n, s in states.items()}
    missing = {
        n: wanted.get(n) for n in params.names if not manager.satisfies(before[n], wanted.get(n))
    }
    if not missing:
        return _changed(manager, before, before, None)
    _known(manager, states, list(missing))
    argv, env = manager.install(missing)
    if ctx.dry_run:
        after = {**before, **{n: v or states[n].candidate for n, v in missing.items()}}
        return _changed(manager, before, after, argv)
    await ctx.host.run(argv, env=env)
    return _changed(manager, before, await _installed_now(manager, ctx, params.names), argv)


async def remove(params: RemoveParams, ctx: OperationContext) -> OperationResult:
    manager = manager_of(ctx.host)
    before = await _installed_now(manager, ctx, params.names)
    present = [n for n, version in before.items() if version is not None]
    if not present:
        return _changed(manager, before, before, None)
    argv, env = manager.remove(present)
    if ctx.dry_run:
        return _changed(manager, before, {**before, **dict.fromkeys(present)}, argv)
    await ctx.host.run(argv, env=env)
    return _changed(manager, before, await _installed_now(manager, ctx, params.names), argv)


async def refresh(params: NoParams, ctx: OperationContext) -> OperationResult:
    manager = manager_of(ctx.host)
    argv = manager.refresh()
    if ctx.dry_run:
        # Only the sources know whether they have news; asking them is the refresh.
        return OperationResult(
            data={"manager": manager.name, "fetched": [], "command": argv}, changed=True
        )
    fetched = manager.fetched((await ctx.host.run(argv)).stdout)
    return OperationResult(
        data={"manager": manager.name, "fetched": fetched, "command": argv}, changed=bool(fetched)
    )


async def upgradable(params: NoParams, ctx: OperationContext) -> OperationResult:
    manager = manager_of(ctx.host)
    packages = await manager.upgradable(ctx.host)
    packages.sort(key=lambda p: (p["name"], p["architecture"]))
    return OperationResult(data={"manager": manager.name, "packages": packages})


HANDLERS: dict[str, Handler] = {
    "package.list": list_packages,
    "package.get": get_package,
    "package.install": install,
    "package.remove": remove,
    "package.refresh": refresh,
    "package.upgradable": upgradable,
}
