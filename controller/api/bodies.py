"""API request bodies and their validation. Pure: no I/O.

Bodies are decoded strictly (no unknown fields, no "5" for 5) so a typo is
a 400 that names the field, never a silently ignored setting. A body that
nests deeper than :data:`common.limits.MAX_NESTING` is a 400 before it is
decoded: the decoder, the redaction walk and the encoders all recurse.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from common.errors import InvalidRequest, PayloadTooLarge
from common.limits import JOB_ENVELOPE_BYTES, MAX_JOB_BYTES, MAX_NESTING
from common.messages import ENCODER, Operation
from common.operations.catalog import spec_for, validate_params
from common.operations.declaration import OperationError
from common.rollout import Rollout
from common.targets import Target, TargetError, parse_target
from controller.jobs.dispatcher import Submission

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`\Z")
# Brackets inside a JSON string do not nest. Escapes go first, so a string
# is then quote to quote (or to the end): both patterns run in linear time.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*(?:"|\Z)')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


class OperationBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    type: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class RolloutBody(Rollout, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``rollout`` in a submit: send the job batch by batch (common/rollout.py)."""


class SubmitBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    operation: OperationBody
    target: str = "_any"
    timeout: float | None = None
    dry_run: bool = False
    rollout: RolloutBody | None = None


class RetryBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    target: str | None = None
    timeout: float | None = None


def field_error(exc: msgspec.ValidationError | msgspec.DecodeError) -> str:
    """``Expected `int`, got `str` - at `$.timeout``` -> ``timeout: Expected ...``."""
    text = str(exc)
    match = _PATH.search(text)
    if match is None:
        return text
    path = match.group("path").lstrip(".") or "body"
    return f"{path}: {text[: match.start()]}"


def nests_deeper(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` opens more than ``limit`` arrays and objects at once.

    A scan without recursion, so any depth is safe to ask about; malformed
    JSON is left to the decoder.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # most bodies: too few openers, counting those in strings
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", raw)).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def decode_body(raw: bytes, kind: type[msgspec.Struct]) -> Any:
    if not raw.strip():
        raise InvalidRequest("request body is empty; expected a JSON object")
    if nests_deeper(raw, MAX_NESTING):
        raise InvalidRequest(
            f"body: arrays and objects nest deeper than the limit of {MAX_NESTING} levels"
        )
    try:
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidRequest(field_error(exc)) from None


def check_timeout(timeout: float | None, default: float, maximum: float) -> float:
    value = default if timeout is None else timeout
    if not 0 < value <= maximum:
        raise InvalidRequest(f"timeout: must be > 0 and <= {maximum:g} seconds")
    return value


def check_target(text: str) -> Target:
    try:
        return parse_target(text)
    except TargetError as exc:
        raise InvalidRequest(f"target: {exc}") from None


def check_publishable(operation: Operation, target: str) -> None:
    """413 for a job whose signed message NATS would refuse (common/limits.py), 400 if unencodable.

    A body under ``max_body_bytes`` can still encode to more than the
    broker's message limit; accepted, it could never be published and would
    end "not dispatched" at its deadline.
    """
    try:
        encoded = ENCODER.encode(operation)
    except OverflowError as exc:  # JSON takes any integer, MessagePack 64 bits
        raise InvalidRequest(f"operation.data: {exc}") from None
    size = len(encoded) + len(target.encode()) + JOB_ENVELOPE_BYTES
    if size > MAX_JOB_BYTES:
        raise PayloadTooLarge(
            f"operation: the signed job would take up to {size} bytes,"
            f" over the {MAX_JOB_BYTES}-byte message limit"
        )


def check_rollout(body: RolloutBody | None, target: Target) -> Rollout | None:
    """The rollout as stored; 400 on a target that has no expected set to roll through."""
    if body is None:
        return None
    if not target.is_broadcast:
        raise InvalidRequest(
            f"rollout: needs a broadcast or label target (_all, key:value), not {target}"
        )
    return Rollout(**msgspec.structs.asdict(body))


def validate_submission(body: SubmitBody, default_timeout: float, max_timeout: float) -> Submission:
    """One job's body checked field by field (raises OperationError for its operation)."""
    validate_params(body.operation.type, body.operation.data)
    if body.dry_run and not spec_for(body.operation.type).dry_runnable:
        raise InvalidRequest(f"dry_run: {body.operation.type} does not support dry run")
    operation = Operation(type=body.operation.type, data=body.operation.data)
    check_publishable(operation, body.target)
    target = check_target(body.target)
    return Submission(
        operation=operation,
        target=target,
        timeout=check_timeout(body.timeout, default_timeout, max_timeout),
        dry_run=body.dry_run,
        rollout=check_rollout(body.rollout, target),
    )


def validate_submit(raw: bytes, default_timeout: float, max_timeout: float) -> Submission:
    body: SubmitBody = decode_body(raw, SubmitBody)
    try:
        return validate_submission(body, default_timeout, max_timeout)
    except OperationError as exc:
        raise InvalidRequest(str(exc)) from None


def meaning(submission: Submission) -> dict[str, Any]:
    """What a validated submit asks for, for Idempotency-Key comparison: key order,
    whitespace and explicit defaults of the body do not change it."""
    operation = submission.operation
    meant: dict[str, Any] = {
        "operation": {"type": operation.type, "data": operation.data},
        "target": str(submission.target),
        "timeout": submission.timeout,
    }
    if submission.dry_run:  # only then: earlier keys keep their meaning
        meant["dry_run"] = True
    if submission.rollout is not None:
        meant["rollout"] = msgspec.structs.asdict(submission.rollout)
    return meant
