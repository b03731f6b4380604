"""W3C trace context in message attributes: what a producer injects and a consumer extracts.

SQS carries no trace context of its own, so it travels as the `traceparent` (and, when there is
one, `tracestate`) string message attribute. Only the OpenTelemetry API is used here: with no SDK
configured, the current span is the one a received context names, so a traceparent received is
passed on unchanged and the trace id keeps flowing at almost no cost.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orderflow_messaging._message import TRACEPARENT_ATTRIBUTE

# W3C only, whatever OTEL_PROPAGATORS says: the contract names `traceparent`, and SQS allows ten
# attributes per message, so baggage does not ride along.
_W3C = TraceContextTextMapPropagator()


def inject_trace_context(
    attributes: Mapping[str, str], context: Context | None = None
) -> dict[str, str]:
    """A copy of `attributes` carrying the trace context of `context`'s span.

    context: whose span to name (default: the current context). Without a valid span the copy
        keeps whatever trace context `attributes` already had.
    """
    carrier = dict(attributes)
    _W3C.inject(carrier, context=context)
    return carrier


def extract_trace_context(attributes: Mapping[str, str]) -> Context:
    """A fresh context whose current span is the remote one named by `attributes`.

    An absent or malformed traceparent gives an empty context: a span started in it begins a new
    trace.
    """
    return _W3C.extract(attributes)


def current_traceparent() -> str | None:
    """The traceparent of the current span, or None when there is no valid span."""
    return inject_trace_context({}).get(TRACEPARENT_ATTRIBUTE)
