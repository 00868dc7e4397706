"""The unified diff a content-changing operation reports (dry run or not). Pure."""

from __future__ import annotations

import difflib


def unified(path: str, before: bytes | str | None, after: bytes | str | None) -> str:
    """``diff -u`` of a file's content; ``None`` is a missing file. Empty when equal."""
    old, new = _text(before), _text(after)
    if old == new:
        return ""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile="/dev/null" if before is None else f"a{path}",
        tofile="/dev/null" if after is None else f"b{path}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _text(content: bytes | str | None) -> str:
    if content is None:
        return ""
    return content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
