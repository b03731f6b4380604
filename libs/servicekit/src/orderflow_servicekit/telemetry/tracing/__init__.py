"""OpenTelemetry traces across the queue: one trace per order, from `POST /orders` to its status
update, through both outbox relays, SQS and both consumers.

- `setup_tracing(TracingOptions(...))` installs the process's tracer provider, exporting over
  OTLP/HTTP only when an endpoint is configured (`serve()` does it from the settings
  `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME`, and shuts it down after the graceful
  stop). Without one nothing is exported, yet the W3C trace context still flows.
- `http_telemetry()`: FastAPI's native server spans (`FastAPI(telemetry=http_telemetry())`).
- `runtime_parts(spec)`: a PRODUCER span per message the outbox relay publishes, whose context
  replaces the message's `traceparent`, and a CONSUMER span per message handled, current while
  the handler runs (see `_messaging`).
- `traced(name, client=..., attributes=...)`: a span of the service's own around a block.
"""

from __future__ import annotations

from fastapi import FastAPI

from orderflow_servicekit.runtime import RuntimeSpec
from orderflow_servicekit.telemetry._parts import RuntimeParts
from orderflow_servicekit.telemetry.tracing._messaging import (
    MESSAGING_SYSTEM,
    TRACER_NAME,
    TracedPublisher,
    queue_name,
    traced_handler,
    traced_publisher,
)
from orderflow_servicekit.telemetry.tracing._setup import (
    Tracing,
    TracingOptions,
    build_tracer_provider,
    setup_tracing,
    traces_url,
    without_credentials,
)
from orderflow_servicekit.telemetry.tracing._spans import http_telemetry, traced

__all__ = [
    "MESSAGING_SYSTEM",
    "TRACER_NAME",
    "TracedPublisher",
    "Tracing",
    "TracingOptions",
    "build_tracer_provider",
    "http_telemetry",
    "instrument_app",
    "queue_name",
    "runtime_parts",
    "setup_tracing",
    "traced",
    "traced_handler",
    "traced_publisher",
    "traces_url",
    "without_credentials",
]


def runtime_parts(spec: RuntimeSpec) -> RuntimeParts:
    """Consumer and producer spans for the runtime of `spec`."""
    return RuntimeParts(
        handler_middleware=(traced_handler,),
        publisher_middleware=(traced_publisher,),
    )


def instrument_app(app: FastAPI, service: str) -> None:
    """Nothing to add: FastAPI starts the server spans itself.

    Build the app with `telemetry=http_telemetry()` to name them by route and leave health probes
    and metrics scrapes out.
    """
