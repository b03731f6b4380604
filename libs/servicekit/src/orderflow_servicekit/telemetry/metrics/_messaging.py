"""Messaging metrics: a handler middleware for the consumer, a publisher one for the relay."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from orderflow_contracts import ORDER_CREATED, PAYMENT_FAILED, PAYMENT_SUCCEEDED
from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    MessageHandler,
    OutgoingMessage,
    PoisonMessage,
    Publisher,
    ReceivedMessage,
    SendResult,
)
from orderflow_servicekit.runtime import HandlerMiddleware, PublisherMiddleware
from orderflow_servicekit.telemetry.metrics._instruments import (
    HANDLER_DURATION,
    MESSAGE_LAG,
    MESSAGES_HANDLED,
    MESSAGES_PUBLISHED,
    MESSAGES_RECEIVED,
    OUTBOX_PUBLISH_DURATION,
)

KNOWN_EVENT_TYPES: Final = frozenset({ORDER_CREATED, PAYMENT_SUCCEEDED, PAYMENT_FAILED})
UNKNOWN_EVENT_TYPE: Final = "unknown"
"""The event_type label of a message without a known `ce_type` attribute (poison, usually):
a label taken from the message as is would let any sender create series without bound."""

SUCCEEDED: Final = "succeeded"
RETRIED: Final = "retried"
DEAD_LETTERED: Final = "dead_lettered"


def event_type_label(message: ReceivedMessage) -> str:
    event_type = message.attributes.get(EVENT_TYPE_ATTRIBUTE, "")
    return event_type if event_type in KNOWN_EVENT_TYPES else UNKNOWN_EVENT_TYPE


def event_age_s(message: ReceivedMessage, now: datetime | None = None) -> float | None:
    """Seconds since the event's CloudEvents `time`, or None when the body has no usable one.

    ReceivedMessage does not carry SQS's SentTimestamp; the event time is the better clock for
    lag anyway, as it also counts the time the event waited in the outbox.
    """
    try:
        body = json.loads(message.body)
        stamp = datetime.fromisoformat(body["time"]) if isinstance(body, dict) else None
    except (ValueError, KeyError, TypeError):
        return None
    if stamp is None or stamp.tzinfo is None:
        return None
    # Clocks of two hosts may disagree a little: a negative age is no age.
    return max(0.0, ((now or datetime.now(UTC)) - stamp).total_seconds())


def measure_handler(service: str, queue: str) -> HandlerMiddleware:
    """A handler middleware: received, handled (by outcome), handler duration and lag.

    PoisonMessage counts as dead_lettered, any other exception as retried (what the consumer
    does with them); a handler cancelled by shutdown is not counted as handled: its message is
    released, and received again later.
    """

    def wrap(handler: MessageHandler) -> MessageHandler:
        async def measured(message: ReceivedMessage) -> None:
            event_type = event_type_label(message)
            MESSAGES_RECEIVED.labels(service, queue, event_type).inc()
            age = event_age_s(message)
            if age is not None:
                MESSAGE_LAG.labels(queue).observe(age)
            started = time.perf_counter()
            outcome: str | None = RETRIED
            try:
                await handler(message)
                outcome = SUCCEEDED
            except PoisonMessage:
                outcome = DEAD_LETTERED
                raise
            except asyncio.CancelledError:
                outcome = None
                raise
            finally:
                HANDLER_DURATION.labels(service, queue, event_type).observe(
                    time.perf_counter() - started
                )
                if outcome is not None:
                    MESSAGES_HANDLED.labels(service, queue, event_type, outcome).inc()

        return measured

    return wrap


def queue_name(queue_url: str) -> str:
    """The queue's name: the last segment of its URL (on AWS and every local engine)."""
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


class MeasuredPublisher:
    """A publisher that counts what it sent or failed to send, and times each call."""

    def __init__(self, inner: Publisher, *, service: str) -> None:
        self._inner = inner
        self._service = service

    async def send(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> SendResult:
        queue = queue_name(queue_url)
        started = time.perf_counter()
        try:
            result = await self._inner.send(queue_url, messages)
        except Exception:
            MESSAGES_PUBLISHED.labels(self._service, queue, "failed").inc(len(messages))
            raise
        finally:
            OUTBOX_PUBLISH_DURATION.labels(self._service, queue).observe(
                time.perf_counter() - started
            )
        if result.sent:
            MESSAGES_PUBLISHED.labels(self._service, queue, "sent").inc(len(result.sent))
        if result.failed:
            MESSAGES_PUBLISHED.labels(self._service, queue, "failed").inc(len(result.failed))
        return result


def measure_publisher(service: str) -> PublisherMiddleware:
    """A publisher middleware: messages published by outcome, and publish latency."""

    def wrap(publisher: Publisher) -> Publisher:
        return MeasuredPublisher(publisher, service=service)

    return wrap
