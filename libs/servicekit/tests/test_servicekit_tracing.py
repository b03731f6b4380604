"""Spans around SQS (producer per message, consumer per handled message), FastAPI's server spans
as our apps configure them, and the tracer provider a process installs.

Spans go to a provider of the test's own (never the process-wide one) and an in-memory exporter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    TRACEPARENT_ATTRIBUTE,
    OutgoingMessage,
    PoisonMessage,
    ReceivedMessage,
    SendResult,
    current_traceparent,
)
from orderflow_servicekit.logs import current_log_context
from orderflow_servicekit.telemetry.tracing import (
    TracedPublisher,
    TracingOptions,
    build_tracer_provider,
    http_telemetry,
    queue_name,
    traced_handler,
    traces_url,
    without_credentials,
)

QUEUE_URL = "http://127.0.0.1:5000/000000000000/t-orders"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
EVENT_TYPE = "orderflow.order.created.v1"


@dataclass
class Spans:
    provider: TracerProvider
    exporter: InMemorySpanExporter

    @property
    def tracer(self) -> trace.Tracer:
        return self.provider.get_tracer("test")

    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def spans() -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Spans(provider, exporter)
    provider.shutdown()


@dataclass
class RecordingPublisher:
    """Accepts every message except those named in `refuse`; remembers each call."""

    refuse: dict[str, str] = field(default_factory=dict)
    calls: list[list[OutgoingMessage]] = field(default_factory=list)
    error: Exception | None = None

    async def send(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> SendResult:
        self.calls.append(list(messages))
        if self.error is not None:
            raise self.error
        sent = [m.id for m in messages if m.id not in self.refuse]
        return SendResult(sent=sent, failed=dict(self.refuse))


def message(message_id: str, traceparent: str | None = TRACEPARENT) -> OutgoingMessage:
    attributes = {EVENT_TYPE_ATTRIBUTE: EVENT_TYPE}
    if traceparent:
        attributes[TRACEPARENT_ATTRIBUTE] = traceparent
    return OutgoingMessage(id=message_id, body="{}", attributes=attributes)


def received(traceparent: str | None = TRACEPARENT) -> ReceivedMessage:
    attributes = {EVENT_TYPE_ATTRIBUTE: EVENT_TYPE}
    if traceparent:
        attributes[TRACEPARENT_ATTRIBUTE] = traceparent
    return ReceivedMessage(
        message_id="sqs-1",
        receipt_handle="r",
        body="{}",
        attributes=attributes,
        receive_count=2,
        queue_url=QUEUE_URL,
    )


def by_message(spans: Spans) -> dict[str, ReadableSpan]:
    """The finished spans by the id of the message each is about."""
    return {str((s.attributes or {})["messaging.message.id"]): s for s in spans.finished()}


def hex_ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    """(trace id, span id, parent span id) as in a traceparent."""
    context = span.get_span_context()
    assert context is not None
    parent = format(span.parent.span_id, "016x") if span.parent else None
    return format(context.trace_id, "032x"), format(context.span_id, "016x"), parent


def test_the_queue_name_is_the_last_segment_of_its_url() -> None:
    assert queue_name(QUEUE_URL) == "t-orders"
    assert queue_name("https://sqs.us-east-1.amazonaws.com/123/orders.fifo/") == "orders.fifo"


# --- publishing


async def test_each_published_message_gets_a_producer_span_parented_on_its_stored_context(
    spans: Spans,
) -> None:
    inner = RecordingPublisher()
    publisher = TracedPublisher(inner, tracer=spans.tracer)
    first, second = message("m1"), message("m2", traceparent=None)

    result = await publisher.send(QUEUE_URL, [first, second])

    assert result.sent == ["m1", "m2"]
    assert len(inner.calls) == 1  # still one batch
    produced = by_message(spans)
    assert set(produced) == {"m1", "m2"}
    span = produced["m1"]
    assert span.name == "t-orders publish"
    assert span.kind is SpanKind.PRODUCER
    assert dict(span.attributes or {}) == {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": "t-orders",
        "messaging.operation.type": "send",
        "messaging.message.id": "m1",
        "cloudevents.event_type": EVENT_TYPE,
    }
    trace_id, _, parent = hex_ids(span)
    assert (trace_id, parent) == (TRACE_ID, PARENT_SPAN_ID)
    # A message stored without a trace context starts a trace of its own.
    assert hex_ids(produced["m2"])[2] is None


async def test_the_sent_traceparent_is_the_producer_spans_and_the_stored_message_is_untouched(
    spans: Spans,
) -> None:
    inner = RecordingPublisher()
    stored = message("m1")

    await TracedPublisher(inner, tracer=spans.tracer).send(QUEUE_URL, [stored])

    [sent] = inner.calls[0]
    [span] = spans.finished()
    trace_id, span_id, _ = hex_ids(span)
    assert sent.attributes[TRACEPARENT_ATTRIBUTE] == f"00-{trace_id}-{span_id}-01"
    assert sent.attributes[EVENT_TYPE_ATTRIBUTE] == EVENT_TYPE
    assert (sent.id, sent.body) == (stored.id, stored.body)
    assert stored.attributes[TRACEPARENT_ATTRIBUTE] == TRACEPARENT


async def test_a_message_sqs_refused_ends_its_span_with_an_error(spans: Spans) -> None:
    inner = RecordingPublisher(refuse={"m2": "InternalError: try again"})

    await TracedPublisher(inner, tracer=spans.tracer).send(
        QUEUE_URL, [message("m1"), message("m2")]
    )

    status = {
        s.attributes["messaging.message.id"]: s.status for s in spans.finished() if s.attributes
    }
    assert status["m1"].status_code is StatusCode.UNSET
    assert status["m2"].status_code is StatusCode.ERROR
    assert status["m2"].description == "InternalError: try again"


async def test_a_publisher_that_raises_ends_every_span_with_an_error_and_the_error_propagates(
    spans: Spans,
) -> None:
    inner = RecordingPublisher(error=OSError("connection reset"))

    with pytest.raises(OSError, match="connection reset"):
        await TracedPublisher(inner, tracer=spans.tracer).send(
            QUEUE_URL, [message("m1"), message("m2")]
        )

    finished = spans.finished()
    assert len(finished) == 2
    assert all(s.status.status_code is StatusCode.ERROR for s in finished)
    assert all(e.name == "exception" for s in finished for e in s.events)


async def test_without_an_sdk_messages_go_out_exactly_as_stored() -> None:
    inner = RecordingPublisher()
    stored = [message("m1"), message("m2", traceparent=None)]
    tracer = trace.NoOpTracerProvider().get_tracer("test")

    await TracedPublisher(inner, tracer=tracer).send(QUEUE_URL, stored)

    assert inner.calls == [stored]


# --- handling


async def test_a_handled_message_gets_a_consumer_span_current_while_the_handler_runs(
    spans: Spans,
) -> None:
    seen: dict[str, object] = {}

    async def handler(message: ReceivedMessage) -> None:
        seen["traceparent"] = current_traceparent()
        seen["log"] = current_log_context()

    await traced_handler(handler, tracer=spans.tracer)(received())

    [span] = spans.finished()
    trace_id, span_id, parent = hex_ids(span)
    assert span.name == "t-orders process"
    assert span.kind is SpanKind.CONSUMER
    assert (trace_id, parent) == (TRACE_ID, PARENT_SPAN_ID)
    assert span.attributes is not None
    assert span.attributes["messaging.operation.type"] == "process"
    assert span.attributes["messaging.message.id"] == "sqs-1"
    assert span.attributes["orderflow.receive_count"] == 2
    assert seen["traceparent"] == f"00-{trace_id}-{span_id}-01"
    assert seen["log"] == {"message_id": "sqs-1", "trace_id": trace_id, "span_id": span_id}
    assert current_log_context() == {}  # the handler's context ends with it


async def test_a_failing_handler_ends_its_span_with_an_error_and_the_failure_propagates(
    spans: Spans,
) -> None:
    async def handler(message: ReceivedMessage) -> None:
        raise PoisonMessage("schema_violation", "no data")

    with pytest.raises(PoisonMessage):
        await traced_handler(handler, tracer=spans.tracer)(received())

    [span] = spans.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


async def test_a_message_without_trace_context_is_handled_in_a_new_trace(spans: Spans) -> None:
    async def handler(message: ReceivedMessage) -> None:
        return None

    await traced_handler(handler, tracer=spans.tracer)(received(traceparent=None))

    [span] = spans.finished()
    assert span.parent is None


async def test_without_an_sdk_the_handler_sees_the_received_traceparent() -> None:
    seen: list[str | None] = []

    async def handler(message: ReceivedMessage) -> None:
        seen.append(current_traceparent())
        seen.append(current_log_context().get("trace_id"))

    tracer = trace.NoOpTracerProvider().get_tracer("test")
    await traced_handler(handler, tracer=tracer)(received())

    assert seen == [TRACEPARENT, TRACE_ID]


# --- HTTP


def an_app(provider: TracerProvider) -> FastAPI:
    app = FastAPI(telemetry={**http_telemetry(), "tracer_provider": provider})

    @app.post("/things/{thing_id}")
    async def create(thing_id: str) -> dict[str, str | None]:
        return {"traceparent": current_traceparent()}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> dict[str, str]:
        return {}

    return app


async def test_a_request_gets_a_server_span_named_by_its_route_and_child_of_its_traceparent(
    spans: Spans,
) -> None:
    transport = httpx.ASGITransport(app=an_app(spans.provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reply = await client.post("/things/42", headers={"traceparent": TRACEPARENT})

    [span] = spans.finished()
    trace_id, span_id, parent = hex_ids(span)
    assert span.name == "POST /things/{thing_id}"
    assert span.kind is SpanKind.SERVER
    assert (trace_id, parent) == (TRACE_ID, PARENT_SPAN_ID)
    # The endpoint runs in the server span: what it writes into an event continues the trace.
    assert reply.json() == {"traceparent": f"00-{trace_id}-{span_id}-01"}


async def test_health_probes_and_metrics_scrapes_are_not_traced(spans: Spans) -> None:
    transport = httpx.ASGITransport(app=an_app(spans.provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200

    assert spans.finished() == []


# --- the process's provider


def test_no_endpoint_means_no_sdk_provider_at_all() -> None:
    assert build_tracer_provider(TracingOptions(service_name="order-service")) is None


def test_with_an_endpoint_spans_are_named_by_the_service_and_exported_to_v1_traces() -> None:
    provider = build_tracer_provider(
        TracingOptions(service_name="payment-service", otlp_endpoint="http://127.0.0.1:4318/")
    )

    assert provider is not None
    try:
        assert provider.resource.attributes["service.name"] == "payment-service"
    finally:
        provider.shutdown()
    assert traces_url("http://127.0.0.1:4318/") == "http://127.0.0.1:4318/v1/traces"


def test_an_endpoint_is_logged_without_its_credentials() -> None:
    assert without_credentials("https://user:secret@otel.example:4318/v1/traces") == (
        "https://otel.example:4318/v1/traces"
    )
    assert without_credentials("http://127.0.0.1:4318") == "http://127.0.0.1:4318"
