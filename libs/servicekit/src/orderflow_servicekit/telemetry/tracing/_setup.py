"""The process's tracer provider: OTLP/HTTP export when an endpoint is configured, else none.

Without an endpoint no SDK is installed at all: the OpenTelemetry API stays a no-op whose "spans"
are the remote contexts they were started in, so the W3C trace context a service receives is
passed on unchanged and the overhead is close to nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

logger = logging.getLogger("orderflow.tracing")


@dataclass(frozen=True, slots=True, kw_only=True)
class TracingOptions:
    """How a process traces.

    service_name: `service.name` on its spans.
    otlp_endpoint: the collector's OTLP/HTTP base URL (`/v1/traces` is appended); None (default)
        exports nothing. Batching, headers and timeouts follow the SDK's own `OTEL_BSP_*` and
        `OTEL_EXPORTER_OTLP_*` environment variables.
    """

    service_name: str
    otlp_endpoint: str | None = None


def traces_url(endpoint: str) -> str:
    """The traces path under an OTLP/HTTP base URL, as the SDK derives it from the environment."""
    return endpoint.rstrip("/") + "/v1/traces"


def without_credentials(url: str) -> str:
    """`url` fit for a log line: no user or password."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def build_tracer_provider(options: TracingOptions) -> TracerProvider | None:
    """A provider exporting to `options.otlp_endpoint` in batches; None without an endpoint."""
    if not options.otlp_endpoint:
        return None
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: options.service_name}),
        # Shut down by `Tracing.shutdown()` after the graceful stop, not at interpreter exit.
        shutdown_on_exit=False,
    )
    exporter = OTLPSpanExporter(endpoint=traces_url(options.otlp_endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@dataclass(slots=True)
class Tracing:
    """The tracing of a running process; `shutdown()` flushes what is left and stops exporting."""

    provider: TracerProvider | None

    @property
    def exporting(self) -> bool:
        return self.provider is not None

    def shutdown(self) -> None:
        if self.provider is None:
            return
        try:
            self.provider.shutdown()
        except Exception as exc:  # never turn a graceful stop into a crash
            logger.warning("tracing: the last spans could not be flushed: %s", exc)
        self.provider = None


def setup_tracing(options: TracingOptions) -> Tracing:
    """Install the process-wide tracer provider (once per process, before the app starts)."""
    provider = build_tracer_provider(options)
    if provider is not None and options.otlp_endpoint is not None:
        trace.set_tracer_provider(provider)
        logger.info(
            "tracing: exporting spans of %s over OTLP to %s",
            options.service_name,
            without_credentials(traces_url(options.otlp_endpoint)),
        )
    return Tracing(provider)
