"""Configuration as data: frozen structs from ``CORRAL_*`` variables and TOML.

Precedence, lowest first: defaults, the TOML file (``CORRAL_CONFIG`` or
``--config``), environment variables, command-line flags (passed in as
``overrides``). ``environ`` is always a parameter, so tests never touch
``os.environ``. Reading the TOML file is the only I/O, and only when asked.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec

from common.job import CONTROLLER
from common.limits import MAX_EVENT_BYTES
from common.operations.catalog import FAMILIES, family_scopes
from common.targets import TargetError, check_labels, is_hostname, parse_labels

API_SCOPES = frozenset(
    {"job:read", "job:write", "agent:read", "agent:write", "audit:read", "admin"}
)


def known_scopes() -> frozenset[str]:
    """The API's own scopes, and a read and a write scope per operation family in the table."""
    return API_SCOPES | family_scopes(FAMILIES)


SCOPES = known_scopes()  # with the built-in families (plugins join at start)
# Deliveries of one job before an agent gives up on it; also the bound of the
# shared `corral-any` consumer (controller/streams.py), which no one agent owns.
DEFAULT_MAX_DELIVERIES = 4
# command.exec keeps up to max_output_bytes of stdout and of stderr; both, and
# the rest of the event, must fit in one event (common/limits.py). An event
# over it anyway (binary output grows when decoded) ends "result too large".
MAX_OUTPUT_BYTES = (MAX_EVENT_BYTES - 8 * 1024) // 2


LOG_FORMATS = ("console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class ConfigError(ValueError):
    """A setting that is missing or malformed; the message names it."""


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """An API key as stored: its SHA-256 hex digest, never the key itself."""

    name: str
    # \Z, not $: msgspec searches, and $ also matches before a trailing newline.
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}\\Z")]
    scopes: frozenset[str]


class ControllerConfig(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str = "redis://127.0.0.1:6379/0"
    host: str = "127.0.0.1"
    port: int = 8080
    metrics_port: int = 0  # Prometheus /metrics on host:metrics_port; 0: off
    name: str = "controller"
    api_keys: tuple[ApiKey, ...] = ()
    signing_key: str = ""  # path to the Ed25519 private key (PEM)
    retention: float = 7 * 24 * 3600.0
    default_timeout: float = 30.0
    max_timeout: float = 24 * 3600.0
    sweep_interval: float = 1.0
    # Deadlines wait while agent events stored before them are not folded yet
    # (controller/upkeep/fold_progress.py), unless that backlog has not moved for this long:
    # more than the collector consumer's ack wait (30 s), after which a dead
    # controller's unacked batch comes back.
    backlog_wait: float = 120.0
    heartbeat_timeout: float = 15.0
    forget_agents_after: float = 7 * 24 * 3600.0  # silent agents leave the registry
    fetch_batch: int = 256
    stream_replicas: int = 1  # 3 on a NATS cluster (R3)
    # Of the streams (controller/streams.py): a message id is stored once within it.
    duplicate_window: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    max_body_bytes: int = 1024 * 1024
    # Largest object POST /object takes (controller/api/objects.py): 64 MiB.
    max_object_bytes: Annotated[int, msgspec.Meta(gt=0)] = 64 * 1024 * 1024
    max_batch_jobs: int = 1000  # jobs in one POST /job/batch (controller/api/batch.py)
    audit_max_entries: int = 100_000  # the audit log is trimmed to about this many
    # Operation data keys matching any of these are redacted in records,
    # API output and logs (common/redaction.py).
    redact_patterns: tuple[str, ...] = (r"(?i)pass|secret|token|key|credential",)
    log_format: str = "console"
    log_level: str = "info"


class AgentConfig(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: str = "nats://127.0.0.1:4222"
    hostname: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    allow: tuple[str, ...] = ()  # empty: every built-in operation
    max_concurrency: int = 8
    heartbeat_interval: float = 5.0
    public_key: str = ""  # path to the controller's Ed25519 public key (PEM)
    journal_dir: str = ""  # "" : the state directory (agent/server.py); swarms keep none
    journal_retention: float = 2 * 24 * 3600.0  # twice the longest job lifetime
    journal_max_entries: int = 100_000
    # The agent's consumer delivers at most max_deliveries + 1 times: that
    # last delivery ends `failed` with the reason.
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ack_wait: float = 30.0  # of the agent's own consumer; in-progress acks every third
    clock_skew_tolerance: float = 30.0
    max_output_bytes: int = 64 * 1024
    # Where operations find the host's files (agent/operations/host.py): "/"
    # on a real host; a directory per agent in `corral dev up` and the tests.
    host_root: str = "/"
    # The PATH operations look their tools up on; "" : the agent's own PATH.
    host_path: str = ""
    # Prometheus /metrics on 127.0.0.1:metrics_port (agent/metrics.py); 0: off.
    metrics_port: int = 0
    log_format: str = "console"
    log_level: str = "info"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def admin_key(key: str) -> ApiKey:
    """An all-scopes key from a plain secret (``CORRAL_API_KEY``)."""
    return ApiKey(name="admin", sha256=hash_key(key), scopes=SCOPES)


_CONTROLLER_ENV = {
    "CORRAL_NATS_URL": "nats_url",
    "CORRAL_REDIS_URL": "redis_url",
    "CORRAL_HOST": "host",
    "CORRAL_PORT": "port",
    "CORRAL_METRICS_PORT": "metrics_port",
    "CORRAL_NAME": "name",
    "CORRAL_SIGNING_KEY": "signing_key",
    "CORRAL_RETENTION": "retention",
    "CORRAL_DEFAULT_TIMEOUT": "default_timeout",
    "CORRAL_SWEEP_INTERVAL": "sweep_interval",
    "CORRAL_BACKLOG_WAIT": "backlog_wait",
    "CORRAL_HEARTBEAT_TIMEOUT": "heartbeat_timeout",
    "CORRAL_FORGET_AGENTS_AFTER": "forget_agents_after",
    "CORRAL_STREAM_REPLICAS": "stream_replicas",
    "CORRAL_AUDIT_MAX_ENTRIES": "audit_max_entries",
    "CORRAL_DUPLICATE_WINDOW": "duplicate_window",
    "CORRAL_MAX_OBJECT_BYTES": "max_object_bytes",
    "CORRAL_LOG_FORMAT": "log_format",
    "CORRAL_LOG_LEVEL": "log_level",
}
_AGENT_ENV = {
    "CORRAL_NATS_URL": "nats_url",
    "CORRAL_HOSTNAME": "hostname",
    "CORRAL_LABELS": "labels",
    "CORRAL_ALLOW": "allow",
    "CORRAL_MAX_CONCURRENCY": "max_concurrency",
    "CORRAL_HEARTBEAT_INTERVAL": "heartbeat_interval",
    "CORRAL_PUBLIC_KEY": "public_key",
    "CORRAL_JOURNAL_DIR": "journal_dir",
    "CORRAL_MAX_DELIVERIES": "max_deliveries",
    "CORRAL_ACK_WAIT": "ack_wait",
    "CORRAL_CLOCK_SKEW_TOLERANCE": "clock_skew_tolerance",
    "CORRAL_MAX_OUTPUT_BYTES": "max_output_bytes",
    "CORRAL_HOST_ROOT": "host_root",
    "CORRAL_HOST_PATH": "host_path",
    "CORRAL_METRICS_PORT": "metrics_port",
    "CORRAL_LOG_FORMAT": "log_format",
    "CORRAL_LOG_LEVEL": "log_level",
}

T = TypeVar("T", ControllerConfig, AgentConfig)


def _from_env(environ: Mapping[str, str], names: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for var, field in names.items():
        if var not in environ:
            continue
        raw = environ[var]
        if field == "labels":
            try:
                values[field] = parse_labels(p for p in raw.split(",") if p)
            except TargetError as exc:
                raise ConfigError(f"{var}: {exc}") from None
        elif field == "allow":
            values[field] = [p.strip() for p in raw.split(",") if p.strip()]
        else:
            values[field] = raw
    return values


def _read_toml(path: str | None, section: str) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] in {path} must be a table")
    return table


def _build(kind: type[T], values: dict[str, Any]) -> T:
    try:
        config = msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid {kind.__name__}: {exc}") from exc
    # A typo here would otherwise log at the wrong level, or not as JSON, silently.
    if config.log_format not in LOG_FORMATS:
        raise ConfigError(
            f"log_format {config.log_format!r}: choose one of {', '.join(LOG_FORMATS)}"
        )
    if config.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"log_level {config.log_level!r}: choose one of {', '.join(LOG_LEVELS)}")
    return config


def load_controller(
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
    config_file: str | None = None,
) -> ControllerConfig:
    values = _read_toml(config_file or environ.get("CORRAL_CONFIG"), "controller")
    values.update(_from_env(environ, _CONTROLLER_ENV))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    keys = list(values.pop("api_keys", []))
    if environ.get("CORRAL_API_KEY"):
        keys.append(msgspec.to_builtins(admin_key(environ["CORRAL_API_KEY"])))
    config = _build(ControllerConfig, {**values, "api_keys": keys})
    known = known_scopes()
    unknown = {s for key in config.api_keys for s in key.scopes} - known
    if unknown:
        raise ConfigError(f"unknown API key scopes {sorted(unknown)}; known: {sorted(known)}")
    if config.forget_agents_after <= config.heartbeat_timeout:
        raise ConfigError(
            f"forget_agents_after ({config.forget_agents_after:g} s) must be longer than"
            f" heartbeat_timeout ({config.heartbeat_timeout:g} s): online agents would be forgotten"
        )
    return config


def load_agent(
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
    config_file: str | None = None,
) -> AgentConfig:
    values = _read_toml(config_file or environ.get("CORRAL_CONFIG"), "agent")
    values.update(_from_env(environ, _AGENT_ENV))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    config = _build(AgentConfig, values)
    if not config.hostname:
        raise ConfigError("the agent needs a hostname (--hostname or CORRAL_HOSTNAME)")
    if not is_hostname(config.hostname):
        raise ConfigError(
            f"agent hostname {config.hostname!r} is not a hostname "
            "([A-Za-z0-9_.-], up to 253 characters): no job could target it"
        )
    try:
        check_labels(config.labels)  # from the TOML file, which parse_labels never saw
    except TargetError as exc:
        raise ConfigError(f"agent {exc}: no job could target it") from None
    if config.hostname == CONTROLLER:
        # Job records name the controller's own events with this hostname.
        raise ConfigError(f"agent hostname {CONTROLLER!r} is reserved; use the host's FQDN")
    if config.max_output_bytes > MAX_OUTPUT_BYTES:
        raise ConfigError(
            f"max_output_bytes ({config.max_output_bytes}) must be at most {MAX_OUTPUT_BYTES}:"
            f" stdout and stderr both go in one event of at most {MAX_EVENT_BYTES} bytes"
        )
    return config
