"""Checks for host and domain names in operation parameters (RFC 1123). Pure: no I/O."""

from __future__ import annotations

import re

# One label: letters, digits and hyphens, 1 to 63 of them, no hyphen at either end.
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MAX_NAME = 253


def is_hostname(value: str) -> bool:
    """Whether ``value`` is a host or domain name: dot-separated RFC 1123 labels, <= 253 chars."""
    if not value or len(value) > MAX_NAME:
        return False
    return all(_LABEL.fullmatch(label) for label in value.split("."))


def check_hostname(name: str, value: str) -> None:
    """For a params struct's ``__post_init__``: ValueError naming the field ``name``."""
    if not is_hostname(value):
        raise ValueError(
            f"{name} must be RFC 1123 labels (letters, digits, inner hyphens; 1 to 63 each)"
            f" joined by dots, at most {MAX_NAME} characters, got {value!r}"
        )
