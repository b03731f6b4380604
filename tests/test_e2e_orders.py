"""The order → payment flow end to end, on the processes `make run` starts."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from orderflow_contracts import OrderCreated, decode_event
from orderflow_messaging import open_sqs_client
from orderflow_testkit.waiting import wait_for_value

if TYPE_CHECKING:
    from tests.conftest import RunningSystem

pytestmark = pytest.mark.e2e

SEED_BODY = {"userId": "dev-user", "total": 42.00}


@pytest.fixture
async def api(orderflow_system: RunningSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=orderflow_system.order_url, timeout=10) as client:
        yield client


def a_user() -> str:
    """A user of its own per test: lists and counts see only that test's orders."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


async def place(api: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await api.post("/orders", json=body, headers=headers)


async def wait_for_status(
    api: httpx.AsyncClient, order_id: str, status: str, timeout_s: float = 5.0
) -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        response = await api.get(f"/orders/{order_id}")
        assert response.status_code == 200, response.text
        order: dict[str, Any] = response.json()
        return order

    return await wait_for_value(
        fetch,
        lambda order: order["status"] == status,
        timeout_s=timeout_s,
        what=f"order {order_id} {status}",
    )


async def test_the_seed_request_creates_a_pending_order_that_is_paid_within_5_seconds(
    api: httpx.AsyncClient,
) -> None:
    response = await place(api, SEED_BODY)

    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["location"] == f"/orders/{order['id']}"
    assert order["userId"] == "dev-user"
    assert order["total"] == "42.00"
    assert order["status"] == "pending"

    paid = await wait_for_status(api, order["id"], "paid", timeout_s=5.0)
    assert paid["total"] == "42.00"
    assert paid["failureReason"] is None


async def test_an_order_above_the_approval_limit_ends_payment_failed_with_limit_exceeded(
    api: httpx.AsyncClient,
) -> None:
    response = await place(api, {"userId": a_user(), "total": 20000})
    assert response.status_code == 201, response.text

    failed = await wait_for_status(api, response.json()["id"], "payment_failed")

    assert failed["failureReason"] == "limit_exceeded"
    assert failed["total"] == "20000.00"


async def test_an_idempotency_key_retry_returns_the_same_order_and_another_body_is_refused(
    api: httpx.AsyncClient, orderflow_system: RunningSystem
) -> None:
    key = str(uuid.uuid4())
    body = {"userId": a_user(), "total": "19.99"}

    first = await place(api, body, **{"Idempotency-Key": key})
    retry = await place(api, body, **{"Idempotency-Key": key})
    other = await place(api, {**body, "total": "20.00"}, **{"Idempotency-Key": key})

    assert first.status_code == 201, first.text
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["status"] == 422
    rows = orderflow_system.query(
        "order-service", "SELECT count(*) FROM orders WHERE user_id = ?", body["userId"]
    )
    assert rows == [(1,)]


async def test_the_list_returns_the_users_orders_newest_first(api: httpx.AsyncClient) -> None:
    user = a_user()
    ids = [(await place(api, {"userId": user, "total": t})).json()["id"] for t in (1, 2, 3)]
    await place(api, {"userId": a_user(), "total": 4})

    response = await api.get("/orders", params={"userId": user})

    assert response.status_code == 200, response.text
    page = response.json()
    assert [o["id"] for o in page["items"]] == list(reversed(ids))
    assert {o["userId"] for o in page["items"]} == {user}


async def queue_depth(orderflow_system: RunningSystem, name: str) -> int:
    async with open_sqs_client(orderflow_system.sqs_options) as sqs:
        url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
        attributes = (
            await sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
        )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


async def test_the_same_order_created_event_delivered_twice_makes_one_payment(
    api: httpx.AsyncClient, orderflow_system: RunningSystem
) -> None:
    response = await place(api, {"userId": a_user(), "total": "75.50"})
    order_id = response.json()["id"]
    await wait_for_status(api, order_id, "paid")
    # The exact message the order-service published, from its outbox.
    [(body, attributes)] = orderflow_system.query(
        "order-service",
        "SELECT body, attributes FROM outbox WHERE body LIKE ?",
        f"%{order_id}%",
    )
    event = decode_event(body)
    assert isinstance(event, OrderCreated)

    async with open_sqs_client(orderflow_system.sqs_options) as sqs:
        url = (await sqs.get_queue_url(QueueName="orders"))["QueueUrl"]
        await sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in json.loads(attributes).items()
            },
        )
    # Received and deleted (not dead-lettered): the payment-service has handled it.
    await wait_for_value(
        lambda: queue_depth(orderflow_system, "orders"),
        lambda depth: depth == 0,
        timeout_s=30,
        what="the duplicate consumed",
    )

    assert await queue_depth(orderflow_system, "orders-dlq") == 0
    payments = orderflow_system.query(
        "payment-service", "SELECT status FROM payments WHERE order_id = ?", order_id
    )
    assert payments == [("succeeded",)]
    inbox = orderflow_system.query(
        "payment-service", "SELECT count(*) FROM inbox WHERE message_id = ?", str(event.id)
    )
    assert inbox == [(1,)]
    results = orderflow_system.query(
        "payment-service", "SELECT count(*) FROM outbox WHERE body LIKE ?", f"%{order_id}%"
    )
    assert results == [(1,)]
    assert (await api.get(f"/orders/{order_id}")).json()["status"] == "paid"
