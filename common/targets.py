"""Target grammar, parsing and matching. Pure: no I/O.

A target is one of:

- ``_any``: exactly one live agent runs the job (load-balanced);
- ``_all``: every live agent;
- a hostname (``web-1.dev.local``);
- ``key:value``: agents whose label ``key`` equals ``value`` or is a child of
  it in the dotted hierarchy (``group:web`` matches ``group=web.prod``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from common import subjects

# Names are matched whole: ``$`` also matches before a trailing newline, so
# these end in ``\Z`` and are applied with ``fullmatch`` (by the helpers below).
HOSTNAME_RE = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?\Z")
LABEL_KEY_RE = re.compile(r"\A[A-Za-z0-9_-]{1,63}\Z")
LABEL_VALUE_RE = re.compile(r"\A[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\Z")


class TargetError(ValueError):
    """A target string that does not follow the grammar."""


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed target. ``kind`` is ``any``, ``all``, ``host`` or ``label``."""

    kind: str
    hostname: str = ""
    key: str = ""
    value: str = ""

    @property
    def is_broadcast(self) -> bool:
        """Broadcast targets resolve an expected set of agents at submit."""
        return self.kind in ("all", "label")

    def subject(self) -> str:
        if self.kind == "any":
            return subjects.JOB_ANY
        if self.kind == "all":
            return subjects.JOB_ALL
        if self.kind == "host":
            return subjects.job_for_host(self.hostname)
        return subjects.job_for_label(self.key, self.value)

    def matches(self, hostname: str, labels: Mapping[str, str]) -> bool:
        """Whether an agent with this hostname and labels is addressed."""
        if self.kind in ("any", "all"):
            return True
        if self.kind == "host":
            return hostname == self.hostname
        return label_matches(labels.get(self.key), self.value)

    def __str__(self) -> str:
        if self.kind == "any":
            return "_any"
        if self.kind == "all":
            return "_all"
        if self.kind == "host":
            return self.hostname
        return f"{self.key}:{self.value}"


def label_matches(agent_value: str | None, wanted: str) -> bool:
    """Hierarchical match: ``web`` matches ``web`` and ``web.prod``, not ``webby``."""
    if agent_value is None:
        return False
    return agent_value == wanted or agent_value.startswith(wanted + ".")


def parse_target(text: str) -> Target:
    """Parse a target string, raising :class:`TargetError` with the reason."""
    if text == "_any":
        return Target("any")
    if text == "_all":
        return Target("all")
    if ":" in text:
        key, _, value = text.partition(":")
        check_label(key, value)
        return Target("label", key=key, value=value)
    validate_hostname(text)
    return Target("host", hostname=text)


def is_hostname(text: str) -> bool:
    """``[A-Za-z0-9_.-]``, 1 to 253 characters, alphanumeric at both ends; nothing else."""
    return HOSTNAME_RE.fullmatch(text) is not None


def validate_hostname(hostname: str) -> str:
    if not is_hostname(hostname):
        raise TargetError(
            f"{hostname!r} is not _any, _all, a hostname ([A-Za-z0-9_.-], up to 253) "
            "or a key:value label"
        )
    return hostname


def is_label(key: str, value: str) -> bool:
    return LABEL_KEY_RE.fullmatch(key) is not None and LABEL_VALUE_RE.fullmatch(value) is not None


def check_label(key: str, value: str) -> None:
    """:class:`TargetError` unless ``key`` and ``value`` are a label key and value, whole."""
    if LABEL_KEY_RE.fullmatch(key) is None:
        raise TargetError(f"label key {key!r} must be 1-63 of [A-Za-z0-9_-]")
    if LABEL_VALUE_RE.fullmatch(value) is None:
        raise TargetError(f"label value {value!r} must be dot-separated segments of [A-Za-z0-9_-]")


def check_labels(labels: Mapping[str, str]) -> None:
    """:func:`check_label` for each pair (an agent's labels, from its config or heartbeat)."""
    for key, value in labels.items():
        check_label(key, value)


def parse_labels(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``key=value`` label flags into a mapping, validating both halves."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not is_label(key, value):
            raise TargetError(f"label {pair!r} must be key=value (value may be dotted)")
        labels[key] = value
    return labels


def resolve_expected(target: Target, agents: Iterable[tuple[str, Mapping[str, str]]]) -> list[str]:
    """Hostnames a broadcast or label target expects, sorted, from live agents."""
    return sorted(host for host, labels in agents if target.matches(host, labels))
