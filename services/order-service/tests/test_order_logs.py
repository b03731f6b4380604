"""order-service's log lines of work on an order name the order, its event, the message and the
trace: when it is placed (no message yet) and when its payment result settles it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from order_service.db.tables import outbox
from order_service.testing import RunningOrderService
from orderflow_contracts import PaymentSucceeded, PaymentSucceededData, encode_event, uuid7
from orderflow_messaging import EVENT_TYPE_ATTRIBUTE, TRACEPARENT_ATTRIBUTE, utcnow
from orderflow_servicekit.logs import configure_logging
from orderflow_testkit.waiting import wait_for_value

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("order-service", "INFO", "json", stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def lines_about(stream: io.StringIO, order_id: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in entries if order_id in e["message"]]


async def test_placing_and_settling_an_order_log_its_ids_and_its_trace(
    order_service: RunningOrderService, json_logs: io.StringIO
) -> None:
    reply = await order_service.http.post(
        "/orders", json={"userId": "dev-user", "total": 42}, headers={"traceparent": TRACEPARENT}
    )
    assert reply.status_code == 201, reply.text
    order_id = reply.json()["id"]
    async with order_service.engine.connect() as conn:
        created_event_id = (await conn.execute(select(outbox.c.id))).scalar_one()

    [placed] = lines_about(json_logs, order_id)
    assert placed["message"] == f"order {order_id} placed"
    assert (placed["order_id"], placed["event_id"], placed["trace_id"]) == (
        order_id,
        created_event_id,
        TRACE_ID,
    )

    result = PaymentSucceeded(
        source="/orderflow/payment-service",
        traceparent=TRACEPARENT,
        data=PaymentSucceededData(
            order_id=UUID(order_id),
            payment_id=uuid7(),
            amount=Decimal("42.00"),
            currency="USD",
            processed_at=utcnow(),
        ),
    )
    runtime = order_service.runtime
    sent = await runtime.client.send_message(
        QueueUrl=runtime.queue_urls[order_service.settings.payment_results_queue],
        MessageBody=encode_event(result),
        MessageAttributes={
            EVENT_TYPE_ATTRIBUTE: {"DataType": "String", "StringValue": result.type},
            TRACEPARENT_ATTRIBUTE: {"DataType": "String", "StringValue": TRACEPARENT},
        },
    )

    async def after_placing() -> list[dict[str, Any]]:
        return lines_about(json_logs, order_id)[1:]

    settled = await wait_for_value(after_placing, bool, what="the settlement's log line")
    assert settled[0]["message"] == f"order {order_id} paid"
    assert {k: settled[0].get(k) for k in ("order_id", "event_id", "message_id", "trace_id")} == {
        "order_id": order_id,
        "event_id": str(result.id),
        "message_id": sent["MessageId"],
        "trace_id": TRACE_ID,
    }
