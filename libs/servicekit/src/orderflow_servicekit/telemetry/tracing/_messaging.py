"""Spans around SQS: a PRODUCER span per message the relay publishes, a CONSUMER span per message
a handler processes, linked through the `traceparent` message attribute.

Neither the botocore nor any aiobotocore instrumentation puts trace context into SQS messages,
so this is done here, at the two seams the runtime offers (publisher and handler middleware).
Attribute names follow OpenTelemetry's messaging semantic conventions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Final

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    MessageHandler,
    OutgoingMessage,
    Publisher,
    ReceivedMessage,
    SendResult,
    extract_trace_context,
    inject_trace_context,
)
from orderflow_servicekit.logs import log_context

TRACER_NAME: Final = "orderflow"
MESSAGING_SYSTEM: Final = "aws_sqs"


def queue_name(queue_url: str) -> str:
    """The queue's name: the last segment of its URL."""
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def _attributes(
    queue: str, operation: str, message_id: str, event_type: str | None
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": queue,
        "messaging.operation.type": operation,
        "messaging.message.id": message_id,
    }
    if event_type:
        attributes["cloudevents.event_type"] = event_type
    return attributes


class TracedPublisher:
    """A `Publisher` that sends each message under a PRODUCER span `<queue> publish`.

    Each span's parent is the trace context stored with the message (the outbox row's
    `traceparent`: the work that wrote it), and the message goes out with its `traceparent`
    rewritten to the span's own, so the consumer's span is the producer span's child. The batch
    is still sent in one call. A message SQS refused ends its span with an error status.
    """

    def __init__(self, inner: Publisher, *, tracer: Tracer | None = None) -> None:
        self._inner = inner
        self._tracer = tracer or trace.get_tracer(TRACER_NAME)

    async def send(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> SendResult:
        queue = queue_name(queue_url)
        spans: list[trace.Span] = []
        outgoing: list[OutgoingMessage] = []
        for message in messages:
            span = self._tracer.start_span(
                f"{queue} publish",
                context=extract_trace_context(message.attributes),
                kind=SpanKind.PRODUCER,
                attributes=_attributes(
                    queue, "send", message.id, message.attributes.get(EVENT_TYPE_ATTRIBUTE)
                ),
            )
            if span.is_recording():
                # Not recording (no SDK): the stored context goes out as it is.
                carrier = inject_trace_context(message.attributes, trace.set_span_in_context(span))
                message = dataclasses.replace(message, attributes=carrier)
            spans.append(span)
            outgoing.append(message)
        try:
            result = await self._inner.send(queue_url, outgoing)
        except BaseException as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.end()
            raise
        for span, message in zip(spans, outgoing, strict=True):
            error = result.failed.get(message.id)
            if error is not None:
                span.set_attribute("error.type", error.split(":", 1)[0])
                span.set_status(Status(StatusCode.ERROR, error))
            span.end()
        return result


def traced_publisher(publisher: Publisher) -> Publisher:
    """Publisher middleware: `TracedPublisher` on the global tracer provider."""
    return TracedPublisher(publisher)


def traced_handler(handler: MessageHandler, *, tracer: Tracer | None = None) -> MessageHandler:
    """Handler middleware: a CONSUMER span `<queue> process` per message, current while `handler`
    runs, whose parent is the message's `traceparent`; `message_id` is in the log context.

    A failure (retry or poison) ends the span with an error status and the exception recorded.
    """
    chosen = tracer or trace.get_tracer(TRACER_NAME)

    async def handle(message: ReceivedMessage) -> None:
        queue = queue_name(message.queue_url)
        attributes = _attributes(
            queue, "process", message.message_id, message.attributes.get(EVENT_TYPE_ATTRIBUTE)
        )
        attributes["orderflow.receive_count"] = message.receive_count
        with (
            chosen.start_as_current_span(
                f"{queue} process",
                context=extract_trace_context(message.attributes),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
            ),
            log_context(message_id=message.message_id),
        ):
            await handler(message)

    return handle
