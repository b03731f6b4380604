"""Structured logs: JSON lines for machines, colour for people, and the context of the work at hand.

`configure_logging(service, level, log_format)` sends every record (ours, uvicorn's, the SDKs')
to stderr, one line each:

- `json` (the default when stderr is not a terminal: containers, CI, `orderflow up`): one JSON
  object per line with `time` (UTC, ISO 8601), `level`, `service`, `logger`, `message`, the
  fields of the log context, `trace_id`/`span_id` of the current span, any `extra=` fields and,
  after a failure, `exception` (the traceback);
- `console` (the default on a terminal): the same as one readable line, coloured on a terminal.

The log context is a `contextvars` mapping, so it follows the asyncio task that does the work:
`log_context(**fields)` binds fields for a block (the consumer's handler middleware binds
`message_id`), `bind_log_context(**fields)` adds fields until that block ends (services bind
`order_id` and `event_id` as soon as they know them). A `trace_id` bound explicitly wins over the
current span's (order-service binds the trace id it wrote into an event when tracing is off).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final, Literal, TextIO

from opentelemetry import trace

LogFormat = Literal["auto", "json", "console"]

_CONTEXT: Final[contextvars.ContextVar[Mapping[str, str]]] = contextvars.ContextVar(
    "orderflow_log_context", default=MappingProxyType({})
)

# What every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRIBUTES: Final = frozenset(
    logging.makeLogRecord({}).__dict__.keys() | {"message", "asctime", "taskName", "color_message"}
)
_NOISY: Final = ("botocore", "aiobotocore", "urllib3", "sqlalchemy.engine", "aiosqlite")


@contextlib.contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add `fields` to every log line written inside the block (and by tasks it starts)."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind_log_context(**fields: str) -> None:
    """Add `fields` to the log lines that follow, until the enclosing `log_context` block ends.

    Outside any block they stay for the rest of the current task (an HTTP request's, say).
    """
    _CONTEXT.set({**_CONTEXT.get(), **fields})


def current_log_context() -> dict[str, str]:
    """The fields the next log line will carry: the bound ones, and the current span's ids."""
    fields = dict(_CONTEXT.get())
    span = trace.get_current_span().get_span_context()
    if span.is_valid and "trace_id" not in fields:
        fields["trace_id"] = format(span.trace_id, "032x")
        fields["span_id"] = format(span.span_id, "016x")
    return fields


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, service, logger, message, context, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current_log_context())
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


_LEVEL_COLOURS: Final = {
    logging.DEBUG: "\x1b[36m",  # cyan
    logging.INFO: "\x1b[32m",  # green
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;31m",  # bold red
}
_DIM: Final = "\x1b[2m"
_RESET: Final = "\x1b[0m"


class ConsoleFormatter(logging.Formatter):
    """`time LEVEL service logger: message key=value ...`, in colour when `colour` is set."""

    def __init__(self, service: str, *, colour: bool) -> None:
        super().__init__()
        self._service = service
        self._colour = colour

    def format(self, record: logging.LogRecord) -> str:
        fields = {**current_log_context(), **_extras(record)}
        fields.pop("span_id", None)  # the trace id is enough for a person to search by
        time = self.formatTime(record)
        level = f"{record.levelname:<7}"
        context = " ".join(f"{k}={v}" for k, v in fields.items())
        if self._colour:
            colour = _LEVEL_COLOURS.get(record.levelno, "")
            level = f"{colour}{level}{_RESET}"
            time = f"{_DIM}{time}{_RESET}"
            context = f"{_DIM}{context}{_RESET}" if context else ""
        line = f"{time} {level} {self._service} {record.name}: {record.getMessage()}"
        if context:
            line += f"  {context}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def log_formatter(service: str, log_format: LogFormat, stream: TextIO) -> logging.Formatter:
    """The formatter for `stream`: `auto` means JSON unless `stream` is a terminal."""
    terminal = stream.isatty()
    if log_format == "json" or (log_format == "auto" and not terminal):
        return JsonFormatter(service)
    return ConsoleFormatter(service, colour=terminal)


def configure_logging(
    service: str, level: str, log_format: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Send every log record of the process to `stream` (default stderr), formatted for it.

    service: the name on every line. level: the root level (DEBUG .. CRITICAL).
    log_format: `json`, `console`, or `auto` (default: JSON unless the stream is a terminal).
    """
    target = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(target)
    handler.setFormatter(log_formatter(service, log_format, target))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK's and the database driver's own debug output drowns ours.
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
