"""Structured logs: JSON lines off a terminal, readable colour on one, LOG_FORMAT to choose, and
the log context that carries the ids of the work at hand."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from orderflow_servicekit.logs import (
    LogFormat,
    bind_log_context,
    configure_logging,
    current_log_context,
    log_context,
)
from orderflow_servicekit.settings import CommonSettings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def logged(stream: io.StringIO, log_format: LogFormat = "auto") -> io.StringIO:
    configure_logging("payment-service", "INFO", log_format, stream=stream)
    return stream


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_off_a_terminal_each_record_is_one_json_object_with_the_standard_fields() -> None:
    out = logged(io.StringIO())

    logging.getLogger("payment_service.handler").info("order %s: payment %s", "o-1", "p-1")

    [entry] = json_lines(out)
    assert entry.keys() == {"time", "level", "service", "logger", "message"}
    assert entry["level"] == "info"
    assert entry["service"] == "payment-service"
    assert entry["logger"] == "payment_service.handler"
    assert entry["message"] == "order o-1: payment p-1"
    assert entry["time"].endswith("Z")
    assert datetime.fromisoformat(entry["time"]).utcoffset() is not None


def test_json_lines_carry_the_log_context_the_current_trace_and_extra_fields() -> None:
    out = logged(io.StringIO())
    span = NonRecordingSpan(
        SpanContext(int(TRACE_ID, 16), int(SPAN_ID, 16), False, TraceFlags(TraceFlags.SAMPLED))
    )

    with log_context(message_id="m-1"), trace.use_span(span):
        bind_log_context(order_id="o-1", event_id="e-1")
        logging.getLogger("t").warning("declined", extra={"reason": "limit_exceeded"})

    [entry] = json_lines(out)
    assert entry["message_id"] == "m-1"
    assert entry["order_id"] == "o-1"
    assert entry["event_id"] == "e-1"
    assert entry["trace_id"] == TRACE_ID
    assert entry["span_id"] == SPAN_ID
    assert entry["reason"] == "limit_exceeded"
    assert entry["level"] == "warning"


def test_a_failure_is_one_json_line_with_its_traceback_as_a_field() -> None:
    out = logged(io.StringIO())

    try:
        raise ValueError('bad "quote"\nand a second line')
    except ValueError:
        logging.getLogger("t").exception("handler failed")

    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    [entry] = json_lines(out)
    assert entry["message"] == "handler failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert 'ValueError: bad "quote"' in entry["exception"]


def test_on_a_terminal_lines_are_readable_and_coloured() -> None:
    out = logged(Terminal())

    with log_context(order_id="o-1"):
        logging.getLogger("orderflow.runtime").error("payment-service stopped")

    line = out.getvalue().rstrip("\n")
    assert "\x1b[31mERROR" in line  # red level
    assert " payment-service orderflow.runtime: payment-service stopped" in line
    assert "order_id=o-1" in line
    assert "{" not in line


@pytest.mark.parametrize(
    ("stream", "log_format", "is_json", "coloured"),
    [
        (io.StringIO(), "auto", True, False),
        (Terminal(), "auto", False, True),
        (Terminal(), "json", True, False),
        (io.StringIO(), "console", False, False),
    ],
)
def test_log_format_overrides_the_terminal_check(
    stream: io.StringIO, log_format: LogFormat, is_json: bool, coloured: bool
) -> None:
    out = logged(stream, log_format)

    logging.getLogger("t").info("hello")

    line = out.getvalue().strip()
    assert line.startswith("{") is is_json
    assert ("\x1b[" in line) is coloured
    assert "hello" in line


def test_the_log_format_setting_is_read_from_log_format_in_any_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    settings = CommonSettings(_env_file=None, database_url="sqlite:///x.db", port=3001)
    assert settings.log_format == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        CommonSettings(_env_file=None, database_url="sqlite:///x.db", port=3001)


async def test_the_log_context_ends_with_its_block_and_bindings_inside_end_with_it() -> None:
    with log_context(message_id="m-1"):
        bind_log_context(order_id="o-1")
        with log_context(event_id="e-1"):
            assert current_log_context() == {
                "message_id": "m-1",
                "order_id": "o-1",
                "event_id": "e-1",
            }
        assert current_log_context() == {"message_id": "m-1", "order_id": "o-1"}
    assert current_log_context() == {}


def test_a_trace_id_bound_explicitly_wins_over_the_current_spans() -> None:
    span = NonRecordingSpan(
        SpanContext(int(TRACE_ID, 16), int(SPAN_ID, 16), False, TraceFlags(TraceFlags.SAMPLED))
    )
    with trace.use_span(span), log_context(trace_id="f" * 32):
        assert current_log_context() == {"trace_id": "f" * 32}
