"""NATS subject and stream names: the one place they are built. No I/O.

Grammar (every ``<tok>`` is produced by :func:`encode_token`)::

    corral.job.any                          job for exactly one live agent (_any)
    corral.job.all                          job for every live agent (_all)
    corral.job.host.<host>                  job for one agent
    corral.job.label.<key>.<seg>[.<seg>]*   job for agents whose label key has
                                            the value seg1.seg2... or a child of it
    corral.event.<host>                     events an agent emits about jobs
    corral.heartbeat.<host>                 core NATS heartbeats with facts
    corral.control.cancel                   core NATS cancel requests (broadcast)
    corral.control.drain.<host>             core NATS: an agent's drain state, from a controller
    corral.control.consumer.<host>          core NATS request: an agent asks a
                                            controller for its own consumer
    _INBOX_<host>.>                         replies to one agent (its inbox prefix)
    $KV.CORRAL_CLAIMS.<job id>              the claim of an ``_any`` job (JetStream KV)
    $O.CORRAL_OBJECTS.M.<b64 name>          an object's metadata (JetStream object store)
    $O.CORRAL_OBJECTS.C.<nuid>              its chunks

Hostnames and label values contain dots, which separate NATS tokens, so each
token is escaped: ``~`` introduces two hex digits for any byte outside
``[A-Za-z0-9_-]``. ``web-1.dev.local`` becomes ``web-1~2Edev~2Elocal``.
"""

from __future__ import annotations

import base64
import re

JOBS_STREAM = "CORRAL_JOBS"
EVENTS_STREAM = "CORRAL_EVENTS"
JOBS_SUBJECTS = "corral.job.>"
EVENTS_SUBJECTS = "corral.event.>"
ANY_CONSUMER = "corral-any"
COLLECTOR_CONSUMER = "corral-collector"
# The key-value bucket of `_any` claims (agent/claims.py), stream KV_CORRAL_CLAIMS.
CLAIMS_BUCKET = "CORRAL_CLAIMS"
# The object store of deploy content (controller/api/objects.py, agent/objects.py).
OBJECTS_BUCKET = "CORRAL_OBJECTS"
OBJECTS_STREAM = f"OBJ_{OBJECTS_BUCKET}"
# What an object may be called: a bucket key and never a path.
OBJECT_NAME = r"[A-Za-z0-9._-]{1,200}"
JOB_ANY = "corral.job.any"
JOB_ALL = "corral.job.all"
HEARTBEATS = "corral.heartbeat.>"
CANCEL = "corral.control.cancel"
# Core NATS, controller to controllers: which jobs a fold, finalize or cancel just changed.
JOB_CHANGES = "corral.watch.jobs"
CONSUMER_REQUESTS = "corral.control.consumer.*"

# Regular expressions rather than a loop per character: every heartbeat and
# event subject goes through these, thousands a second on a big fleet.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_ESCAPES = re.compile(r"(?:~[0-9A-F]{2})+")
_TOKEN = re.compile(r"(?:[A-Za-z0-9_-]|~[0-9A-F]{2})+")


def _escape(match: re.Match[str]) -> str:
    return "".join(f"~{byte:02X}" for byte in match.group().encode())


def _unescape(match: re.Match[str]) -> str:
    # A run of escapes holds whole UTF-8 characters: decode it at once.
    return bytes.fromhex(match.group().replace("~", "")).decode()


def encode_token(text: str) -> str:
    """Escape ``text`` into one NATS subject token (also a valid consumer name)."""
    if not text:
        raise ValueError("a subject token cannot be empty")
    return _UNSAFE.sub(_escape, text)


def decode_token(token: str) -> str:
    """Invert :func:`encode_token`; ValueError for what it could not have made."""
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"not an encoded token: {token[:100]!r}")
    return _ESCAPES.sub(_unescape, token)


def job_for_host(hostname: str) -> str:
    return f"corral.job.host.{encode_token(hostname)}"


def job_for_label(key: str, value: str) -> str:
    segments = ".".join(encode_token(seg) for seg in value.split("."))
    return f"corral.job.label.{encode_token(key)}.{segments}"


def label_subjects(key: str, value: str) -> list[str]:
    """Subjects an agent labelled ``key=value`` listens on: every ancestor value.

    ``group=web.prod`` hears jobs for ``group:web`` and ``group:web.prod``.
    """
    segments = value.split(".")
    return [job_for_label(key, ".".join(segments[:n])) for n in range(1, len(segments) + 1)]


def agent_job_subjects(hostname: str, labels: dict[str, str]) -> list[str]:
    """Every job subject one agent consumes through its own durable consumer."""
    subjects = [JOB_ALL, job_for_host(hostname)]
    for key, value in sorted(labels.items()):
        subjects.extend(label_subjects(key, value))
    return subjects


def agent_consumer(hostname: str) -> str:
    return f"agent-{encode_token(hostname)}"


def consumer_request_of(hostname: str) -> str:
    """Where the agent ``hostname`` asks a controller for its own consumer."""
    return f"corral.control.consumer.{encode_token(hostname)}"


DRAINS = "corral.control.drain.*"


def drain_of(hostname: str) -> str:
    """Where a controller tells the agent ``hostname`` whether it is drained."""
    return f"corral.control.drain.{encode_token(hostname)}"


def inbox_prefix(hostname: str) -> str:
    """The agent's inbox prefix: its replies and deliveries, which its NATS user
    alone may subscribe to (``_INBOX_<host>.>``, a first token of its own)."""
    return f"_INBOX_{encode_token(hostname)}"


def events_of(hostname: str) -> str:
    return f"corral.event.{encode_token(hostname)}"


def heartbeat_of(hostname: str) -> str:
    return f"corral.heartbeat.{encode_token(hostname)}"


def hostname_of_subject(subject: str) -> str:
    """The hostname encoded in the last token of an event, heartbeat or consumer request subject."""
    return decode_token(subject.rsplit(".", 1)[-1])


def object_meta(name: str) -> str:
    """The subject of an object's metadata, as the NATS object store lays it out."""
    return f"$O.{OBJECTS_BUCKET}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def object_sha256(digest: str | None) -> str:
    """The hex SHA-256 an object's metadata holds as ``SHA-256=<base64url>``; "" if none."""
    encoded = (
        (digest or "").partition("=")[2] if (digest or "").upper().startswith("SHA-256=") else ""
    )
    try:
        return base64.urlsafe_b64decode(encoded).hex() if encoded else ""
    except ValueError:
        return ""


def object_chunks(nuid: str) -> str:
    """The subject of the chunks of one stored version of an object."""
    return f"$O.{OBJECTS_BUCKET}.C.{nuid}"
