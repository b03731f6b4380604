"""W3C trace context in message attributes, with the OpenTelemetry API alone (no SDK)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    TRACEPARENT_ATTRIBUTE,
    current_traceparent,
    extract_trace_context,
    inject_trace_context,
)

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def a_span(trace_state: TraceState | None = None) -> NonRecordingSpan:
    return NonRecordingSpan(
        SpanContext(
            TRACE_ID,
            SPAN_ID,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
            trace_state=trace_state,
        )
    )


def test_injecting_a_span_writes_its_traceparent_and_keeps_the_other_attributes() -> None:
    attributes = {EVENT_TYPE_ATTRIBUTE: "orderflow.order.created.v1", TRACEPARENT_ATTRIBUTE: "old"}

    injected = inject_trace_context(attributes, trace.set_span_in_context(a_span()))

    assert injected == {
        EVENT_TYPE_ATTRIBUTE: "orderflow.order.created.v1",
        "traceparent": TRACEPARENT,
    }
    assert attributes[TRACEPARENT_ATTRIBUTE] == "old"  # a copy: the input is not changed


def test_injecting_without_a_valid_span_keeps_the_trace_context_the_attributes_had() -> None:
    attributes = {TRACEPARENT_ATTRIBUTE: TRACEPARENT}

    assert inject_trace_context(attributes) == attributes
    assert inject_trace_context({}) == {}


def test_tracestate_travels_with_the_traceparent() -> None:
    span = a_span(TraceState([("vendor", "value")]))

    injected = inject_trace_context({}, trace.set_span_in_context(span))
    extracted = trace.get_current_span(extract_trace_context(injected)).get_span_context()

    assert injected["tracestate"] == "vendor=value"
    assert extracted.trace_state.get("vendor") == "value"


def test_extracting_a_traceparent_gives_the_remote_span_as_parent() -> None:
    context = extract_trace_context({TRACEPARENT_ATTRIBUTE: TRACEPARENT, "ce_type": "x"})

    parent = trace.get_current_span(context).get_span_context()

    assert (parent.trace_id, parent.span_id) == (TRACE_ID, SPAN_ID)
    assert parent.is_remote
    assert parent.trace_flags.sampled


def test_an_absent_or_malformed_traceparent_extracts_no_parent() -> None:
    for attributes in (
        {},
        {TRACEPARENT_ATTRIBUTE: "garbage"},
        {TRACEPARENT_ATTRIBUTE: "00-0-0-01"},
    ):
        span = trace.get_current_span(extract_trace_context(attributes))
        assert not span.get_span_context().is_valid


def test_the_current_traceparent_is_the_current_spans_or_none() -> None:
    assert current_traceparent() is None

    with trace.use_span(a_span()):
        assert current_traceparent() == TRACEPARENT


def test_without_an_sdk_a_span_started_in_a_received_context_passes_it_on_unchanged() -> None:
    tracer = trace.NoOpTracerProvider().get_tracer("test")
    received = extract_trace_context({TRACEPARENT_ATTRIBUTE: TRACEPARENT})

    with tracer.start_as_current_span("orders process", context=received):
        assert current_traceparent() == TRACEPARENT
