"""The ``file`` family's declarations: deploy, check and remove files. Pure: no I/O.

Content comes inline (``content``, text) or from the controller's object
store (``object`` with its ``sha256``, text or binary; docs/api.md,
``POST /object``). The agent records the sha256 of what it deployed, so
``file.status`` can tell a deployed file from one edited since (drifted) or
one corral never wrote (unmanaged).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, NonEmpty, Params, doc
from common.subjects import OBJECT_NAME

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MODE = re.compile(r"[0-7]{3,4}")
# A user or group name as useradd takes it, or a numeric id.
_ACCOUNT = re.compile(r"[a-z_][a-z0-9_.-]*\$?|[0-9]+")

FileState = Literal["deployed", "drifted", "absent", "unmanaged"]


def check_path(name: str, path: str) -> None:
    """``path`` must be absolute, without ``..`` or NUL, and name a file, not the root."""
    if not path.startswith("/"):
        raise ValueError(f"{name} must be an absolute path, got {path!r}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts or "\0" in path or not parts:
        raise ValueError(f"{name} must name a file without '..' or NUL, got {path!r}")


class PathParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[NonEmpty, doc("Absolute path of the file on the host.")]

    def __post_init__(self) -> None:
        check_path("path", self.path)


class DeployParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exactly one of ``content`` and ``object``; ``sha256`` goes with ``object``."""

    path: Annotated[NonEmpty, doc("Absolute path of the file on the host.")]
    content: Annotated[str | None, doc("The file's text (UTF-8).")] = None
    object: Annotated[str | None, doc("Name of an object uploaded with POST /object.")] = None
    sha256: Annotated[
        str | None, doc("The object's SHA-256 (hex); the agent refuses other content.")
    ] = None
    mode: Annotated[str | None, doc('Octal, e.g. "0644"; unset keeps the file\'s (new: 0644).')] = (
        None
    )
    owner: Annotated[str | None, doc("User name (or uid); unset keeps the file's.")] = None
    group: Annotated[str | None, doc("Group name (or gid); unset keeps the file's.")] = None
    template: Annotated[
        bool, doc("Render the content as a Jinja2 template with the host's facts.")
    ] = False

    def __post_init__(self) -> None:
        check_path("path", self.path)
        if (self.content is None) == (self.object is None):
            raise ValueError("content or object: give exactly one")
        if self.object is not None and not re.fullmatch(OBJECT_NAME, self.object):
            raise ValueError(f"object must match {OBJECT_NAME}, got {self.object[:80]!r}")
        if (self.object is None) != (self.sha256 is None):
            raise ValueError("sha256 must be given with object, and only with it")
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise ValueError("sha256 must be 64 lower-case hex digits")
        if self.mode is not None and not _MODE.fullmatch(self.mode):
            raise ValueError(f'mode must be 3 or 4 octal digits, like "0644", got {self.mode!r}')
        for name, value in (("owner", self.owner), ("group", self.group)):
            if value is not None and not _ACCOUNT.fullmatch(value):
                raise ValueError(f"{name} must be a user or group name or a number, got {value!r}")


class DeployResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str
    changed: Annotated[bool, doc("Whether content, mode or owner changed (or would).")]
    sha256: Annotated[str, doc("Of the content deployed (rendered, for a template).")]
    diff: Annotated[
        str, doc('Unified diff of the content; "binary files differ" for binary content.')
    ]


class StatusResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str
    state: Annotated[
        FileState,
        doc(
            "deployed: holds what corral deployed; drifted: changed since;"
            " absent; unmanaged: exists, never deployed by corral."
        ),
    ]
    sha256: Annotated[str | None, doc("Of the file's content now; null when absent.")]
    deployed_sha256: Annotated[str | None, doc("What corral recorded deploying, if anything.")]
    mode: Annotated[str | None, doc('Octal, e.g. "0644".')]
    owner: Annotated[str | None, doc("User name, or the uid when it has none.")]
    group: Annotated[str | None, doc("Group name, or the gid when it has none.")]


class UndeployResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str
    changed: Annotated[bool, doc("Whether the file was (or would be) removed.")]
    diff: Annotated[str, doc("Unified diff from the file's content to nothing.")]


FAMILY = Family(
    name="file",
    summary="Deploy files from inline text or the object store, check and remove them.",
    declarations=(
        Declaration(
            name="file.deploy",
            params=DeployParams,
            result=DeployResult,
            kind="mutate",
            summary="Make a file hold the given content, mode and owner.",
            description=(
                "Writes `content`, or the object named `object` (fetched from the"
                " controller's object store and refused unless its SHA-256 is `sha256`),"
                " to `path`: compared first, then written atomically (a temporary file"
                " renamed over the old one), parent directories created. `owner` and"
                " `group` are resolved in the host's /etc/passwd and /etc/group. With"
                " `template`, the content is a Jinja2 template (sandboxed; an undefined"
                " name is an error) given `hostname` and `facts`. The agent records the"
                " SHA-256 it deployed (/var/lib/corral/files.json) for `file.status`."
                " A dry run writes nothing and reports the diff."
            ),
            example={
                "path": "/etc/motd",
                "content": "Welcome to {{ hostname }}\n",
                "template": True,
            },
            dry_run=True,
        ),
        Declaration(
            name="file.status",
            params=PathParams,
            result=StatusResult,
            kind="read",
            summary="Whether a file still holds what corral deployed.",
            description=(
                "`deployed` (its SHA-256 is the one recorded at deploy), `drifted`"
                " (changed since), `absent`, or `unmanaged` (exists, never deployed by"
                " corral), with its SHA-256, mode and owner."
            ),
            example={"path": "/etc/motd"},
        ),
        Declaration(
            name="file.undeploy",
            params=PathParams,
            result=UndeployResult,
            kind="mutate",
            summary="Remove a file corral deployed, and its record.",
            description=(
                "Removes the file and forgets its record; `changed: false` when it is"
                " already absent. A file corral never deployed is refused (failed), so"
                " a typo cannot remove a file it does not manage. A dry run removes"
                " nothing and reports the diff."
            ),
            example={"path": "/etc/motd"},
            dry_run=True,
        ),
    ),
)
