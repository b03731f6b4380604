"""OpenTelemetry traces across the queue: one trace per order, from `POST /orders` to its status
update, through both outbox relays, SQS and both consumers.

- `setup_tracing(TracingOptions(...))` installs the process's tracer provider, exporting over
  OTLP/HTTP only when an endpoint is configured (`serve()` does it from the settings
  `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME`, and shuts it down after the graceful
  stop). Without one nothing is exported, yet the W3C trace context still flows.
- `http_telemetry()`: FastAPI's native server spans (`FastAPI(telemetry=http_telemetry())`).
- `MessagingTracing()`, a runtime middleware: a PRODUCER span per message the outbox relay
  publishes, whose context replaces the message's `traceparent`, and a CONSUMER span per message
  handled, current while the handler runs (see `_messaging`).
- `traced(name, client=..., attributes=...)`: a span of the service's own around a block.
"""

from __future__ import annotations

from orderflow_messaging import MessageHandler, Publisher
from orderflow_servicekit.runtime import RuntimeMiddleware, RuntimeSpec
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
    "MessagingTracing",
    "TracedPublisher",
    "Tracing",
    "TracingOptions",
    "build_tracer_provider",
    "http_telemetry",
    "queue_name",
    "setup_tracing",
    "traced",
    "traced_handler",
    "traced_publisher",
    "traces_url",
    "without_credentials",
]


class MessagingTracing(RuntimeMiddleware):
    """Consumer spans around the handler, producer spans around the relay's publisher."""

    def wrap_handler(self, handler: MessageHandler, spec: RuntimeSpec) -> MessageHandler:
        return traced_handler(handler)

    def wrap_publisher(self, publisher: Publisher, spec: RuntimeSpec) -> Publisher:
        return traced_publisher(publisher)
