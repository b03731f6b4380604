"""The shared metrics: HTTP middleware, handler and publisher middleware, and the samplers.

The registry is process-wide, so every assertion is on a delta read through
`REGISTRY.get_sample_value`, and each test uses labels (service, queue) of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from orderflow_contracts import ORDER_CREATED
from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    OutgoingMessage,
    PoisonMessage,
    QueueSpec,
    ReceivedMessage,
    SendResult,
    SqsClientOptions,
    add_to_outbox,
    apply_topology,
    open_sqs_client,
    outbox_table,
)
from orderflow_servicekit.db import create_engine
from orderflow_servicekit.telemetry.metrics import (
    Sampler,
    event_age_s,
    instrument_app,
    measure_handler,
    measure_publisher,
    sample_outbox,
    sample_queues,
)
from orderflow_testkit.waiting import wait_for_value

SERVICE: Final = "metrics-test"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---- HTTP ---------------------------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @app.post("/items", status_code=201)
    async def create() -> dict[str, str]:
        return {}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    instrument_app(app, SERVICE)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def requests(method: str, route: str, status: str) -> float:
    return value(
        "orderflow_http_requests_total", service=SERVICE, method=method, route=route, status=status
    )


async def test_requests_are_counted_by_route_template_never_by_raw_path(
    http: httpx.AsyncClient,
) -> None:
    before = requests("GET", "/items/{item_id}", "200")
    timed = value(
        "orderflow_http_request_duration_seconds_count",
        service=SERVICE,
        method="GET",
        route="/items/{item_id}",
    )

    for item_id in ("a", "b", "c"):
        assert (await http.get(f"/items/{item_id}")).status_code == 200

    assert requests("GET", "/items/{item_id}", "200") == before + 3
    assert requests("GET", "/items/a", "200") == 0
    duration = value(
        "orderflow_http_request_duration_seconds_count",
        service=SERVICE,
        method="GET",
        route="/items/{item_id}",
    )
    assert duration == timed + 3


async def test_status_codes_unmatched_paths_and_crashes_have_their_own_series(
    http: httpx.AsyncClient,
) -> None:
    created = requests("POST", "/items", "201")
    unmatched = requests("GET", "unmatched", "404")
    crashed = requests("GET", "/boom", "500")

    assert (await http.post("/items")).status_code == 201
    assert (await http.get("/no/such/path/123")).status_code == 404
    assert (await http.get("/boom")).status_code == 500

    assert requests("POST", "/items", "201") == created + 1
    assert requests("GET", "unmatched", "404") == unmatched + 1
    assert requests("GET", "/boom", "500") == crashed + 1


async def test_unknown_methods_share_one_label(http: httpx.AsyncClient) -> None:
    before = requests("other", "/items/{item_id}", "405")
    assert (await http.request("BREW", "/items/x")).status_code == 405
    assert requests("other", "/items/{item_id}", "405") == before + 1


# ---- the consumer's handler ----------------------------------------------------------------------


def message(
    queue: str, *, event_type: str | None = ORDER_CREATED, body: str = "{}"
) -> ReceivedMessage:
    attributes = {EVENT_TYPE_ATTRIBUTE: event_type} if event_type else {}
    return ReceivedMessage(
        message_id="m",
        receipt_handle="r",
        body=body,
        attributes=attributes,
        receive_count=1,
        queue_url=f"http://sqs/000000000000/{queue}",
    )


def handled(queue: str, event_type: str, outcome: str) -> float:
    return value(
        "orderflow_messages_handled_total",
        service=SERVICE,
        queue=queue,
        event_type=event_type,
        outcome=outcome,
    )


async def succeed(_: ReceivedMessage) -> None:
    return None


async def fail(_: ReceivedMessage) -> None:
    raise ConnectionError("database down")


async def poison(_: ReceivedMessage) -> None:
    raise PoisonMessage("schema_violation", "total is negative")


async def test_handled_messages_are_counted_by_outcome_and_timed(queue_prefix: str) -> None:
    queue = f"{queue_prefix}orders"

    await measure_handler(SERVICE, queue)(succeed)(message(queue))
    with pytest.raises(ConnectionError):
        await measure_handler(SERVICE, queue)(fail)(message(queue))
    with pytest.raises(PoisonMessage):
        await measure_handler(SERVICE, queue)(poison)(message(queue))

    assert handled(queue, ORDER_CREATED, "succeeded") == 1
    assert handled(queue, ORDER_CREATED, "retried") == 1
    assert handled(queue, ORDER_CREATED, "dead_lettered") == 1
    labels = {"service": SERVICE, "queue": queue, "event_type": ORDER_CREATED}
    assert value("orderflow_messages_received_total", **labels) == 3
    assert value("orderflow_message_handler_duration_seconds_count", **labels) == 3


async def test_an_unknown_or_missing_event_type_is_one_label(queue_prefix: str) -> None:
    queue = f"{queue_prefix}orders"
    wrapped = measure_handler(SERVICE, queue)(succeed)

    await wrapped(message(queue, event_type=None))
    await wrapped(message(queue, event_type="made.up.by.a.sender"))

    assert handled(queue, "unknown", "succeeded") == 2
    assert handled(queue, "made.up.by.a.sender", "succeeded") == 0


async def test_a_handler_cancelled_by_shutdown_is_received_but_not_handled(
    queue_prefix: str,
) -> None:
    queue = f"{queue_prefix}orders"
    started = asyncio.Event()

    async def slow(_: ReceivedMessage) -> None:
        started.set()
        await asyncio.Event().wait()

    async def handle() -> None:
        await measure_handler(SERVICE, queue)(slow)(message(queue))

    task = asyncio.create_task(handle())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    labels = {"service": SERVICE, "queue": queue, "event_type": ORDER_CREATED}
    assert value("orderflow_messages_received_total", **labels) == 1
    assert [handled(queue, ORDER_CREATED, o) for o in ("succeeded", "retried")] == [0, 0]


async def test_lag_is_the_age_of_the_event_when_received(queue_prefix: str) -> None:
    queue = f"{queue_prefix}orders"
    created = datetime.now(UTC) - timedelta(seconds=42)
    body = json.dumps({"time": created.isoformat().replace("+00:00", "Z")})

    await measure_handler(SERVICE, queue)(succeed)(message(queue, body=body))

    assert value("orderflow_message_lag_seconds_count", queue=queue) == 1
    lag = value("orderflow_message_lag_seconds_sum", queue=queue)
    assert 42 <= lag < 60
    assert value("orderflow_message_lag_seconds_bucket", queue=queue, le="30.0") == 0
    assert value("orderflow_message_lag_seconds_bucket", queue=queue, le="60.0") == 1


@pytest.mark.parametrize(
    "body", ["{not json", "[]", '{"time": 5}', '{"time": "2025-01-01T00:00:00"}']
)
def test_a_body_without_an_aware_event_time_has_no_age(body: str) -> None:
    assert event_age_s(message("q", body=body)) is None


# ---- the relay's publisher -----------------------------------------------------------------------


class HalfPublisher:
    """Accepts the first message of each call and refuses the rest; raises when told to."""

    def __init__(self) -> None:
        self.down = False

    async def send(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> SendResult:
        if self.down:
            raise ConnectionError("SQS down")
        return SendResult(sent=[messages[0].id], failed={m.id: "throttled" for m in messages[1:]})


def outgoing(n: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(id=str(i), body="{}") for i in range(n)]


async def test_published_messages_are_counted_by_queue_and_outcome(queue_prefix: str) -> None:
    queue = f"{queue_prefix}payment-results"
    inner = HalfPublisher()
    publisher = measure_publisher(SERVICE)(inner)
    url = f"http://sqs/000000000000/{queue}"

    await publisher.send(url, outgoing(3))
    inner.down = True
    with pytest.raises(ConnectionError):
        await publisher.send(url, outgoing(2))

    def published(outcome: str) -> float:
        return value(
            "orderflow_messages_published_total", service=SERVICE, queue=queue, outcome=outcome
        )

    assert (published("sent"), published("failed")) == (1, 4)
    assert value("orderflow_outbox_publish_seconds_count", service=SERVICE, queue=queue) == 2


# ---- the samplers (a real database, a real moto server) -----------------------------------------


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_the_outbox_sample_is_its_backlog_and_the_age_of_its_oldest_row(
    engine: AsyncEngine, queue_prefix: str
) -> None:
    service = f"{queue_prefix}svc"
    outbox = outbox_table(MetaData(), name="metrics_outbox")
    async with engine.begin() as conn:
        await conn.run_sync(outbox.metadata.create_all)

    await sample_outbox(engine, outbox, service)
    assert value("orderflow_outbox_backlog", service=service) == 0
    assert value("orderflow_outbox_oldest_age_seconds", service=service) == 0

    async with engine.begin() as conn:
        await add_to_outbox(conn, outbox, "orders", outgoing(3))
        await conn.execute(
            outbox.update().values(created_at=datetime.now(UTC) - timedelta(seconds=90))
        )
        await conn.execute(
            outbox.update().where(outbox.c.id == "0").values(published_at=datetime.now(UTC))
        )
    await sample_outbox(engine, outbox, service)

    assert value("orderflow_outbox_backlog", service=service) == 2
    assert 90 <= value("orderflow_outbox_oldest_age_seconds", service=service) < 120


async def test_the_queue_sample_counts_visible_in_flight_and_dlq_messages(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    spec = QueueSpec(name=f"{queue_prefix}orders")
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [spec])
        url = urls[spec.name]
        for i in range(3):
            await client.send_message(QueueUrl=url, MessageBody=str(i))
        await client.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        await client.send_message(QueueUrl=urls[spec.dlq_name], MessageBody="dead")
        await wait_for_value(
            lambda: client.receive_message(QueueUrl=url, MaxNumberOfMessages=1),
            lambda r: len(r.get("Messages", [])) == 1,
            what="one message received (in flight)",
        )

        queues: Mapping[str, str] = {n: urls[n] for n in (spec.name, spec.dlq_name)}
        await sample_queues(client, queues)

    def depth(queue: str, state: str) -> float | None:
        return REGISTRY.get_sample_value(
            "orderflow_queue_messages", {"queue": queue, "state": state}
        )

    assert [depth(spec.name, s) for s in ("visible", "in_flight", "delayed")] == [2, 1, 1]
    assert [depth(spec.dlq_name, s) for s in ("visible", "in_flight", "delayed")] == [1, 0, 0]


async def test_a_failing_source_is_logged_once_and_does_not_stop_the_other(
    engine: AsyncEngine,
    sqs_options: SqsClientOptions,
    queue_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = f"{queue_prefix}svc"
    outbox = outbox_table(MetaData(), name="metrics_outbox")
    async with engine.begin() as conn:
        await conn.run_sync(outbox.metadata.create_all)

    async def backlog_is(n: int) -> None:
        async def backlog() -> float:
            return value("orderflow_outbox_backlog", service=service)

        await wait_for_value(backlog, lambda v: v == n, what=f"an outbox backlog of {n}")

    async def add(ids: list[str]) -> None:
        async with engine.begin() as conn:
            messages = [OutgoingMessage(id=i, body="{}") for i in ids]
            await add_to_outbox(conn, outbox, "orders", messages)

    async with open_sqs_client(sqs_options) as client:
        missing = f"{sqs_options.endpoint_url}/000000000000/{queue_prefix}missing"
        sampler = Sampler(
            engine=engine,
            outbox=outbox,
            service=service,
            client=client,
            queues={f"{queue_prefix}missing": missing},
            interval_s=0.05,
        )
        task = asyncio.create_task(sampler.run())
        try:
            await add(["a", "b"])
            await backlog_is(2)
            await add(["c"])
            await backlog_is(3)  # rounds went on after the queue sample failed
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len([w for w in warnings if w.startswith("sampling the queue depths failed")]) == 1
    assert not [w for w in warnings if "outbox" in w]
