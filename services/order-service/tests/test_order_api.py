"""The HTTP API over a real moto server and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json

import pytest

from order_service.testing import RunningOrderService
from orderflow_contracts import decode_event
from orderflow_testkit.waiting import wait_for_value

SEED_BODY = '{"userId":"dev-user","total":42.00}'
JSON = {"Content-Type": "application/json"}


async def test_the_seed_request_creates_a_pending_order_and_publishes_its_event(
    order_service: RunningOrderService,
) -> None:
    response = await order_service.http.post("/orders", content=SEED_BODY, headers=JSON)

    assert response.status_code == 201
    order = response.json()
    assert response.headers["location"] == f"/orders/{order['id']}"
    assert order["userId"] == "dev-user"
    assert order["total"] == "42.00"
    assert order["status"] == "pending"
    assert order["currency"] == "USD"
    fetched = await order_service.http.get(f"/orders/{order['id']}")
    assert fetched.json() == order

    client = order_service.runtime.client
    queue_url = order_service.runtime.queue_urls[order_service.settings.orders_queue]

    async def receive() -> list[str]:
        reply = await client.receive_message(
            QueueUrl=queue_url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        return [m["Body"] for m in reply.get("Messages", [])]

    bodies = await wait_for_value(receive, bool, timeout_s=10, what="the OrderCreated event")
    event = decode_event(bodies[0])
    assert event.type == "orderflow.order.created.v1"
    assert str(event.data.order_id) == order["id"]
    assert str(event.data.total) == "42.00"
    assert event.traceparent is not None


BAD_REQUESTS = [
    ("missing userId", '{"total":42}', JSON, 422),
    ("total -1", '{"userId":"u","total":-1}', JSON, 422),
    ("total 0", '{"userId":"u","total":0}', JSON, 422),
    ("total 0.001", '{"userId":"u","total":0.001}', JSON, 422),
    ('total "abc"', '{"userId":"u","total":"abc"}', JSON, 422),
    ("total 1e309", '{"userId":"u","total":1e309}', JSON, 422),
    ("total 2000000", '{"userId":"u","total":2000000}', JSON, 422),
    ("10 kB userId", json.dumps({"userId": "x" * 10_240, "total": 1}), JSON, 422),
    ("broken JSON", '{"userId": "u", "total": ', JSON, 400),
    ("wrong content type", '{"userId":"u","total":1}', {"Content-Type": "text/plain"}, 415),
    ("no content type", '{"userId":"u","total":1}', {}, 415),
    ("2 MB body", json.dumps({"userId": "u", "total": 1, "pad": "x" * 2_000_000}), JSON, 413),
    ("a JSON array", "[1, 2]", JSON, 422),
    ("unknown field", '{"userId":"u","total":1,"admin":true}', JSON, 422),
]


@pytest.mark.parametrize(
    ("case", "body", "headers", "status"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
async def test_bad_input_gets_a_problem_response_and_writes_nothing(
    order_service: RunningOrderService,
    case: str,
    body: str,
    headers: dict[str, str],
    status: int,
) -> None:
    response = await order_service.http.post("/orders", content=body, headers=headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert "Traceback" not in response.text
    assert await order_service.row_counts() == (0, 0)


async def test_an_idempotency_key_returns_the_same_order_and_refuses_another_body(
    order_service: RunningOrderService,
) -> None:
    headers = {**JSON, "Idempotency-Key": "checkout-7"}
    first = await order_service.http.post("/orders", content=SEED_BODY, headers=headers)
    again = await order_service.http.post(
        "/orders", content='{"userId":"dev-user","total":"42"}', headers=headers
    )
    other = await order_service.http.post(
        "/orders", content='{"userId":"dev-user","total":43}', headers=headers
    )

    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert await order_service.row_counts() == (1, 1)


async def test_concurrent_requests_with_one_idempotency_key_place_one_order(
    order_service: RunningOrderService,
) -> None:
    # Retries racing each other (a client timing out and trying again while the first request
    # is still in flight): the database decides, every caller gets the same order.
    headers = {**JSON, "Idempotency-Key": "double-click"}
    replies = await asyncio.gather(
        *(order_service.http.post("/orders", content=SEED_BODY, headers=headers) for _ in range(8))
    )

    assert [r.status_code for r in replies] == [201] * 8
    assert len({r.json()["id"] for r in replies}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in replies) == 7
    assert await order_service.row_counts() == (1, 1)


async def test_an_unknown_or_malformed_order_id_is_a_404_problem(
    order_service: RunningOrderService,
) -> None:
    for order_id in ("01a2183d-e978-72b6-a866-5179a175ae1d", "not-a-uuid"):
        response = await order_service.http.get(f"/orders/{order_id}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_the_list_pages_newest_first_and_filters_by_user_and_status(
    order_service: RunningOrderService,
) -> None:
    created = []
    for i in range(5):
        reply = await order_service.http.post(
            "/orders", json={"userId": "alice" if i % 2 == 0 else "bob", "total": i + 1}
        )
        created.append(reply.json()["id"])
    alice = [created[4], created[2], created[0]]

    first = (await order_service.http.get("/orders", params={"userId": "alice", "limit": 2})).json()
    assert [o["id"] for o in first["items"]] == alice[:2]
    assert first["nextCursor"]
    second = (
        await order_service.http.get(
            "/orders", params={"userId": "alice", "limit": 2, "cursor": first["nextCursor"]}
        )
    ).json()
    assert [o["id"] for o in second["items"]] == alice[2:]
    assert second["nextCursor"] is None

    pending = (await order_service.http.get("/orders", params={"status": "pending"})).json()
    assert len(pending["items"]) == 5
    paid = (await order_service.http.get("/orders", params={"status": "paid"})).json()
    assert paid["items"] == []
    bad = await order_service.http.get("/orders", params={"cursor": "!!!"})
    assert bad.status_code == 400
    bad_status = await order_service.http.get("/orders", params={"status": "shipped"})
    assert bad_status.status_code == 422


async def test_readiness_reports_the_database_and_sqs(order_service: RunningOrderService) -> None:
    live = await order_service.http.get("/health/live")
    ready = await order_service.http.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "sqs": "ok", "worker": "ok"}


async def test_swagger_ui_is_served_without_a_cdn(order_service: RunningOrderService) -> None:
    page = await order_service.http.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "/static-offline-docs/swagger-ui-bundle.js" in page.text
    bundle = await order_service.http.get("/static-offline-docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    spec = (await order_service.http.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert {"post", "get"} <= set(spec["paths"]["/orders"])
