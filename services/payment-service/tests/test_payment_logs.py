"""The handler's log lines and trace context: every line of work on an order names the order,
the event, the message and the trace, and the result event continues the trace.

The handler runs as the runtime runs it: wrapped in the tracing handler middleware, on a real
database; the message is built as the consumer would hand it over.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from orderflow_contracts import OrderCreated, OrderCreatedData, encode_event, uuid7
from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    TRACEPARENT_ATTRIBUTE,
    Inbox,
    MessageHandler,
    ReceivedMessage,
    utcnow,
)
from orderflow_servicekit.db import create_engine
from orderflow_servicekit.logs import configure_logging
from orderflow_servicekit.telemetry.tracing import traced_handler
from payment_service.db.tables import inbox, outbox
from payment_service.handler import OrderCreatedHandler, order_created_handler
from payment_service.migrate import upgrade_async
from payment_service.provider import SimulatedProvider

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
CONTEXT_FIELDS = ("order_id", "event_id", "message_id", "trace_id")


class Relay:
    def notify(self) -> None:
        return None


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log record of the test as JSON lines (stderr of a container)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("payment-service", "INFO", "json", stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def handler(engine: AsyncEngine) -> MessageHandler:
    return order_created_handler(
        OrderCreatedHandler(
            engine=engine,
            provider=SimulatedProvider(),
            inbox=Inbox(engine, inbox, consumer="payment-service"),
            outbox=outbox,
            relay=Relay(),
            source="/orderflow/payment-service",
            results_queue="payment-results",
        )
    )


def order_created(total: str = "42.00") -> OrderCreated:
    return OrderCreated(
        source="/orderflow/order-service",
        traceparent=TRACEPARENT,
        data=OrderCreatedData(
            order_id=uuid7(),
            user_id="dev-user",
            total=Decimal(total),
            currency="USD",
            created_at=utcnow(),
        ),
    )


def delivered(event: OrderCreated) -> ReceivedMessage:
    return ReceivedMessage(
        message_id=f"sqs-{event.id}",
        receipt_handle="r",
        body=encode_event(event),
        attributes={EVENT_TYPE_ATTRIBUTE: event.type, TRACEPARENT_ATTRIBUTE: TRACEPARENT},
        receive_count=1,
        queue_url="http://127.0.0.1:1/000000000000/orders",
    )


async def handle(engine: AsyncEngine, event: OrderCreated, tracer: Tracer | None = None) -> None:
    await traced_handler(handler(engine), tracer=tracer)(delivered(event))


def lines_of(stream: io.StringIO, logger: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in entries if e["logger"] == logger]


async def result_attributes(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(outbox.c.attributes))).one()
    attributes: dict[str, str] = json.loads(row.attributes)
    return attributes


@pytest.mark.parametrize("total", ["42.00", "20000.00"])
async def test_every_handler_line_names_the_order_event_message_and_trace(
    engine: AsyncEngine, json_logs: io.StringIO, total: str
) -> None:
    event = order_created(total)

    await handle(engine, event)

    lines = lines_of(json_logs, "payment_service.handler")
    assert lines, json_logs.getvalue()
    for line in lines:
        assert {k: line.get(k) for k in CONTEXT_FIELDS} == {
            "order_id": str(event.data.order_id),
            "event_id": str(event.id),
            "message_id": f"sqs-{event.id}",
            "trace_id": TRACE_ID,
        }, line
        assert line["service"] == "payment-service"


async def test_without_an_sdk_the_result_event_carries_the_received_traceparent(
    engine: AsyncEngine,
) -> None:
    await handle(engine, order_created())

    assert (await result_attributes(engine))[TRACEPARENT_ATTRIBUTE] == TRACEPARENT


async def test_while_tracing_the_result_event_continues_from_the_consumer_span(
    engine: AsyncEngine,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    await handle(engine, order_created(), tracer=provider.get_tracer("test"))

    [consumer] = [s for s in exporter.get_finished_spans() if s.name == "orders process"]
    context = consumer.get_span_context()
    assert context is not None
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
    assert (await result_attributes(engine))[TRACEPARENT_ATTRIBUTE] == expected
    assert f"{context.trace_id:032x}" == TRACE_ID
    provider.shutdown()
