"""Redacting secrets from operation data, results and log lines. Pure: no I/O.

Two rules, applied together:

- **Marked fields**: a parameter declared with :data:`common.operations.declaration.SECRET`
  metadata (``command.exec``'s ``env`` and ``stdin``) is always redacted;
  for a mapping the names stay visible and only the values are replaced.
- **Patterns**: any mapping key, at any depth, that matches one of the
  configured regular expressions (default :data:`DEFAULT_PATTERNS`) has its
  value replaced, whatever the operation.

Redacted values become :data:`REDACTED`. Only copies are redacted: the
controller signs and sends the real values to the agent.

The walk is a loop, not a recursion, and copies at most
:data:`common.limits.MAX_NESTING` levels: a container deeper than that
becomes :data:`TOO_DEEP`. Request bodies never nest that deep (the API
refuses them), but an agent's result or a log line may, and what is stored
or logged must encode and decode again without recursing out of stack.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import msgspec
import msgspec.inspect as mi

from common.limits import MAX_NESTING
from common.messages import ENCODER, Completed, Event, Operation
from common.operations.catalog import OPERATIONS

REDACTED = "[REDACTED]"
TOO_DEEP = f"[NESTED DEEPER THAN {MAX_NESTING} LEVELS]"
DEFAULT_PATTERNS: tuple[str, ...] = (r"(?i)pass|secret|token|key|credential",)
# structlog's own fields are never secret, even when a pattern would match.
_LOG_FIELDS = frozenset({"event", "level", "timestamp", "logger", "job_id", "hostname"})


def _is_secret(kind: mi.Type) -> bool:
    if isinstance(kind, mi.Metadata):
        return bool((kind.extra or {}).get("secret"))
    if isinstance(kind, mi.UnionType):
        return any(_is_secret(t) for t in kind.types)
    return False


@functools.cache
def secret_fields(op_type: str) -> frozenset[str]:
    """Names of ``op_type``'s parameters marked secret (empty if unknown)."""
    spec = OPERATIONS.get(op_type)
    if spec is None:
        return frozenset()
    info = mi.type_info(spec.params)
    assert isinstance(info, mi.StructType)
    return frozenset(f.name for f in info.fields if _is_secret(f.type))


class Redactor:
    """Replaces secret values by :data:`REDACTED` in copies of data."""

    def __init__(self, patterns: Iterable[str] = DEFAULT_PATTERNS) -> None:
        # Compiled one by one: each may carry its own inline flags, e.g. (?i).
        self._patterns = [re.compile(p) for p in patterns]

    def secret_key(self, key: object) -> bool:
        return isinstance(key, str) and any(p.search(key) for p in self._patterns)

    def value(self, value: Any) -> Any:
        """A copy of ``value`` with every mapping entry under a secret-looking key redacted."""
        return self.copy(value)[0]

    def copy(self, root: Any) -> tuple[Any, bool]:
        """``(clean copy of root, whether anything was redacted or cut)``; see the module doc.

        Mappings become dicts, lists and tuples lists. Each container is
        filled in place after it is put in its parent, so one stack of
        (entries left, copy) pairs is the whole state.
        """
        if not isinstance(root, _NESTED):
            return root, False
        top = _empty(root)
        stack = [(_entries(root), top)]
        changed = False
        while stack:
            entries, out = stack[-1]
            for key, child in entries:
                if self.secret_key(key):
                    out[key], changed = REDACTED, True
                elif not isinstance(child, _NESTED):
                    out[key] = child
                elif len(stack) >= MAX_NESTING:
                    out[key], changed = TOO_DEEP, True
                else:
                    out[key] = _empty(child)
                    stack.append((_entries(child), out[key]))
                    break
            else:
                stack.pop()
        return top, changed

    def data(self, op_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Operation data with marked fields and pattern matches redacted."""
        marked = secret_fields(op_type)
        out: dict[str, Any] = {}
        for name, field_value in data.items():
            if name in marked and field_value is not None:
                out[name] = _redact_whole(field_value)
            elif self.secret_key(name):
                out[name] = REDACTED
            else:
                out[name] = self.value(field_value)
        return out

    def operation(self, operation: Operation) -> Operation:
        """A copy of ``operation`` safe to store and show."""
        return msgspec.structs.replace(operation, data=self.data(operation.type, operation.data))

    def log_processor(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """A structlog processor: redact secret-looking fields of every log line."""
        for key in list(event_dict):
            if key in _LOG_FIELDS:
                continue
            if self.secret_key(key):
                event_dict[key] = REDACTED
            elif isinstance(event_dict[key], Operation):
                event_dict[key] = self.operation(event_dict[key])
            elif isinstance(event_dict[key], Mapping | list | tuple):
                event_dict[key] = self.value(event_dict[key])
        return event_dict


_NESTED = (Mapping, list, tuple)


def _empty(container: Any) -> Any:
    """The copy to fill: list slots are set by index as a mapping's keys are."""
    return {} if isinstance(container, Mapping) else [None] * len(container)


def _entries(container: Any) -> Iterator[tuple[Any, Any]]:
    return iter(container.items()) if isinstance(container, Mapping) else enumerate(container)


def _redact_whole(value: Any) -> Any:
    """A marked field: a mapping keeps its keys, anything else is replaced."""
    if isinstance(value, Mapping):
        return dict.fromkeys(value, REDACTED)
    return REDACTED


def redact_results(
    redactor: Redactor, events: Iterable[tuple[Event, bytes]]
) -> list[tuple[Event, bytes]]:
    """Events with secret-looking keys in their results redacted, re-encoded only if changed."""
    out: list[tuple[Event, bytes]] = []
    for event, blob in events:
        if isinstance(event, Completed) and isinstance(event.result, dict | list):
            clean, changed = redactor.copy(event.result)
            if changed:
                event = msgspec.structs.replace(event, result=clean)
                blob = ENCODER.encode(event)
        out.append((event, blob))
    return out
