"""Limits on what comes in and what goes out: header and query lengths, and an event that must
fit in one SQS message before its order is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from order_service.db.orders import Order
from order_service.domain import OrderStatus
from order_service.events import UnpublishableEventError, ensure_publishable, order_created_message
from order_service.testing import RunningOrderService
from orderflow_contracts import uuid7
from orderflow_messaging import MAX_MESSAGE_BYTES, OutgoingMessage, message_size

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_an_event_larger_than_sqs_accepts_is_refused_before_it_is_stored() -> None:
    fits = OutgoingMessage(id="1", body="x" * (MAX_MESSAGE_BYTES - 20), attributes={"ab": "cd"})
    too_big = OutgoingMessage(id="2", body="x" * MAX_MESSAGE_BYTES, attributes={"ce_type": "t"})

    assert message_size(fits) <= MAX_MESSAGE_BYTES
    assert ensure_publishable(fits) is fits
    with pytest.raises(UnpublishableEventError, match=f"at most {MAX_MESSAGE_BYTES}"):
        ensure_publishable(too_big)


def test_the_largest_order_the_api_accepts_makes_an_event_far_below_the_limit() -> None:
    now = datetime.now(UTC)
    order = Order(
        id=uuid7(),
        user_id="\U0001f600" * 128,  # 128 characters of 4 bytes each: the most userId holds
        total=Decimal("1000000.00"),
        currency="EUR",
        status=OrderStatus.PENDING,
        failure_reason=None,
        created_at=now,
        updated_at=now,
    )
    message = order_created_message(order, TRACEPARENT)
    assert message_size(message) < 4 * 1024


OVERLONG = [
    ("POST", "/orders", {"Idempotency-Key": "k" * 256}, {}),
    ("GET", "/orders", {}, {"userId": "u" * 129}),
    ("GET", "/orders", {}, {"cursor": "c" * 65}),
    ("GET", "/orders", {}, {"limit": "1000"}),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "params"),
    OVERLONG,
    ids=["idempotency-key", "userId", "cursor", "limit"],
)
async def test_overlong_headers_and_query_parameters_are_422_problems(
    order_service: RunningOrderService,
    method: str,
    path: str,
    headers: dict[str, str],
    params: dict[str, str],
) -> None:
    reply = await order_service.http.request(
        method,
        path,
        headers={"Content-Type": "application/json", **headers},
        params=params,
        content='{"userId":"u","total":1}' if method == "POST" else None,
    )
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert "k" * 256 not in reply.text  # the rejected input is not echoed back
    assert await order_service.row_counts() == (0, 0)
