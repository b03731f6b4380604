"""Spans a service starts itself, and the HTTP server spans FastAPI starts for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Final

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from orderflow_servicekit.telemetry.tracing._messaging import TRACER_NAME

_tracer: Final = trace.get_tracer(TRACER_NAME)

# Probes and scrapes every few seconds would bury the requests worth reading.
_UNTRACED_PREFIXES: Final = ("/health/", "/metrics")


@contextlib.contextmanager
def traced(
    name: str, *, client: bool = False, attributes: Mapping[str, AttributeValue] | None = None
) -> Iterator[Span]:
    """A span around the block, current inside it (a child of the current span).

    client: a call to another system, such as a payment provider (kind CLIENT); default INTERNAL.
    attributes: set on the span at its start. An exception leaving the block is recorded on the
    span and sets its status to error. With no SDK installed the span is a no-op.
    """
    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
    with _tracer.start_as_current_span(name, kind=kind, attributes=attributes) as span:
        yield span


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    path = str(scope.get("path", ""))
    return path.startswith(_UNTRACED_PREFIXES)


def http_telemetry() -> TelemetryConfig:
    """FastAPI's native telemetry for our apps: `FastAPI(..., telemetry=http_telemetry())`.

    A SERVER span per request, named `METHOD /route/template` and a child of the request's
    `traceparent` header, on the global tracer provider (so nothing at all while none is
    installed). Health probes and metrics scrapes are not traced; FastAPI's own per-operation
    spans, OpenTelemetry metrics and log records are off (metrics are Prometheus', logs ours).
    """
    return {
        "tracing": True,
        "operation_spans": False,
        "metrics": False,
        "logs": False,
        "exclude": _untraced,
    }
