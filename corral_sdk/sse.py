"""Server-Sent Events parsed into the typed events corral's streams send. Pure.

:class:`Parser` takes the stream's lines one at a time and hands out an
event at each blank line, so the sync and the async client share it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from common.detail import AgentStateView, JobDetail, TimelineItem


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The job's detail when the stream opened."""

    id: int
    detail: JobDetail


class AgentChange(msgspec.Struct, frozen=True, kw_only=True):
    hostname: str
    state: AgentStateView


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """One event the store took: its timeline entry, and the agent state it moved."""

    id: int
    entry: TimelineItem
    agent: AgentChange | None


class Final(msgspec.Struct, frozen=True, kw_only=True):
    """The finished detail: the stream ends after it."""

    id: int
    detail: JobDetail


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """A status change of some job, from the firehose."""

    job_id: str
    status: str
    operation: str


JobEvent = Snapshot | Progress | Final
_DETAIL = msgspec.json.Decoder(JobDetail)
_PROGRESS = msgspec.json.Decoder(dict[str, Any])
_CHANGE = msgspec.json.Decoder(Change)


class Parser:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def feed(self, line: str) -> tuple[str, int | None, bytes] | None:
        """A complete (event, id, data) at a blank line; None while one is being read."""
        if line:
            if not line.startswith(":"):
                name, _, value = line.partition(":")
                self.fields[name] = value.removeprefix(" ")
            return None
        fields, self.fields = self.fields, {}
        if "event" not in fields:
            return None
        raw_id = fields.get("id")
        return fields["event"], int(raw_id) if raw_id else None, fields.get("data", "").encode()


def job_event(event: str, event_id: int | None, data: bytes) -> JobEvent | None:
    """The typed event of a job stream; None for a kind this client does not know."""
    position = event_id or 0
    if event == "snapshot":
        return Snapshot(id=position, detail=_DETAIL.decode(data))
    if event == "final":
        return Final(id=position, detail=_DETAIL.decode(data))
    if event == "timeline":
        return msgspec.convert({"id": position, **_PROGRESS.decode(data)}, Progress, strict=False)
    return None


def change(event: str, data: bytes) -> Change | None:
    return _CHANGE.decode(data) if event == "change" else None
