"""The unified diff a content-changing operation reports (dry run or not). Pure.

One format for every family: ``diff -u`` with git's ``a/`` and ``b/``
prefixes, ``/dev/null`` for a file that is not there, and diff(1)'s
"\\ No newline at end of file" marker. Binary content is not shown.
"""

from __future__ import annotations

import difflib

BINARY = "binary content differs\n"


def unified(
    path: str, before: bytes | str | None, after: bytes | str | None, limit: int | None = None
) -> str:
    """``diff -u`` of a file's content (None: no file); "" when equal; at most ``limit`` bytes."""
    if before == after:
        return ""
    try:
        old, new = _text(before), _text(after)
    except UnicodeDecodeError:
        return BINARY
    if old == new:
        return ""
    if "\0" in old or "\0" in new:
        return BINARY
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile="/dev/null" if before is None else f"a{path}",
        tofile="/dev/null" if after is None else f"b{path}",
    )
    # As diff(1) does, so a last line without a newline does not run into the next.
    text = "".join(
        line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in lines
    )
    if limit is None:
        return text
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode(errors="ignore") + "\n[diff truncated]\n"


def _text(content: bytes | str | None) -> str:
    if content is None:
        return ""
    return content.decode() if isinstance(content, bytes) else content
