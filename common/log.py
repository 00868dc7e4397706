"""structlog set-up, called once by each process's entry point. No I/O at import.

Events are past-tense facts (``job_submitted``, ``message_rejected``);
``job_id``, ``hostname`` and ``operation`` are bound per message. JSON lines
in production, readable console lines in development.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

import structlog

from common.redaction import DEFAULT_PATTERNS, Redactor


def configure(
    fmt: str = "console", level: str = "info", redact_patterns: Iterable[str] = DEFAULT_PATTERNS
) -> None:
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Secrets never reach a log line (fields named like pass/secret/token/key).
            Redactor(redact_patterns).log_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
