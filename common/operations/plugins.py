"""Third-party operation families, found through the ``corral.operations`` entry points.

I/O only when called: reading the installed packages' metadata and importing
the declaring module, once, at a daemon's start (like the TOML file of
common/config.py). Each entry point is named after its family and points to
a :class:`~common.operations.declaration.Family` (docs/plugins.md):

    [project.entry-points."corral.operations"]
    example = "corral_example.declarations:FAMILY"

Loading a family does not add it to the table; the caller does that
(common/operations/catalog.py ``add_families``).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from common.operations.declaration import Family

GROUP = "corral.operations"


class PluginError(ValueError):
    """A plugin that is missing or does not declare a family properly; the message says which."""


def installed() -> dict[str, EntryPoint]:
    """The installed entry points of the group, by family name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load(name: str, found: dict[str, EntryPoint] | None = None) -> Family:
    """The family ``name`` declared by an installed package, or :class:`PluginError`."""
    points = installed() if found is None else found
    if name not in points:
        raise PluginError(f"no installed package declares the operation family {name!r}")
    point = points[name]
    try:
        family = point.load()
    except Exception as exc:
        raise PluginError(
            f"operation family {name!r} ({point.value}) does not load: {exc!r}"
        ) from exc
    if not isinstance(family, Family) or family.name != name:
        raise PluginError(f"entry point {name!r} ({point.value}) is not the Family named {name!r}")
    return family


def load_all() -> list[Family]:
    """Every installed family, sorted by name."""
    found = installed()
    return [load(name, found) for name in sorted(found)]
