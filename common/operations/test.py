"""The `test` family's declarations: harmless probes for wiring and faults. Pure: no I/O."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from common.operations.declaration import (
    Declaration,
    Family,
    NonEmpty,
    NoParams,
    Params,
    check_absolute,
    doc,
)


class EchoParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data: Annotated[Any, doc("Any JSON value; returned unchanged.")] = None


class SleepParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seconds: Annotated[float, msgspec.Meta(ge=0, le=3600), doc("How long to sleep (0 to 3600).")]


class FailParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    message: Annotated[str, doc("The error the job fails with.")] = "requested failure"
    hosts: Annotated[
        list[str] | None, doc("Fail only on these agents (all when unset); answer elsewhere.")
    ] = None


class SkipParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, doc("Why the job is skipped.")] = "requested skip"
    hosts: Annotated[
        list[str] | None, doc("Skip only on these agents (all when unset); run elsewhere.")
    ] = None


class CounterParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[NonEmpty, doc("Absolute path of the counter file.")]

    def __post_init__(self) -> None:
        check_absolute("path", self.path)


class PingResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pong: bool


class SleepResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    slept: Annotated[float, doc("Seconds slept.")]


class CounterResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    count: Annotated[int, doc("Lines in the file after the append (on a dry run: it would be).")]
    would_append: Annotated[str | None, doc("Dry run only: the line it would append.")] = None


FAMILY = Family(
    name="test",
    summary="Harmless probes for wiring, timeouts, failures and side effects.",
    declarations=(
        Declaration(
            name="test.ping",
            params=NoParams,
            result=PingResult,
            kind="read",
            summary="Answer {pong: true}.",
            description="The smallest round trip: proves an agent receives, runs and reports.",
            platforms=("any",),
        ),
        Declaration(
            name="test.echo",
            params=EchoParams,
            result=Any,
            kind="read",
            summary="Return data unchanged.",
            description="Returns `data` as given: a probe for encoding and size limits.",
            example={"data": {"hello": "world"}},
            platforms=("any",),
        ),
        Declaration(
            name="test.sleep",
            params=SleepParams,
            result=SleepResult,
            kind="read",
            summary="Sleep for seconds (0 to 3600).",
            description="Holds a slot for `seconds`: a probe for timeouts, cancel and load.",
            example={"seconds": 1.5},
            platforms=("any",),
        ),
        Declaration(
            name="test.fail",
            params=FailParams,
            result=PingResult | None,
            kind="read",
            summary="Fail with message.",
            description=(
                "Ends `failed` with `message` as the error on the agents named in `hosts`"
                " (every agent when unset), and answers like `test.ping` on the others."
            ),
            example={"message": "on purpose"},
            platforms=("any",),
        ),
        Declaration(
            name="test.skip",
            params=SkipParams,
            result=PingResult,
            kind="read",
            summary="Skip with reason, as a host lacking a tool would.",
            description=(
                "Ends `skipped` with `reason` on the agents named in `hosts` (every agent"
                " when unset), and answers like `test.ping` on the others."
            ),
            example={"reason": "no such tool", "hosts": ["web-1.example"]},
            platforms=("any",),
        ),
        Declaration(
            name="test.counter",
            params=CounterParams,
            result=CounterResult,
            kind="mutate",
            summary="Append the job id to the file at path (fsynced); return the line count.",
            description=(
                "The side-effect probe of the fault tests: one fsynced line per run, so a"
                " test counts how often a job really ran. Off unless an agent's allow-list"
                " names it. A dry run counts the lines and writes nothing."
            ),
            example={"path": "/srv/probe/counter"},
            platforms=("any",),
            dry_run=True,
            opt_in=True,
        ),
    ),
)
