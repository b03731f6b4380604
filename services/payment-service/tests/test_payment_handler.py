"""The OrderCreated handler against a real moto server and real databases.

Order events go through the orders queue, results come out of the payment-results queue through
the outbox relay; poison messages and retries run through a real `Consumer`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from orderflow_contracts import (
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    OrderCreated,
    OrderCreatedData,
    PaymentFailed,
    PaymentSucceeded,
    decode_order_created,
    decode_payment_result,
    encode_event,
    uuid7,
)
from orderflow_messaging import (
    DLQ_REASON_ATTRIBUTE,
    EVENT_TYPE_ATTRIBUTE,
    TRACEPARENT_ATTRIBUTE,
    Consumer,
    ConsumerOptions,
    ExponentialBackoff,
    Inbox,
    MessageHandler,
    OutboxRelay,
    QueueUrls,
    ReceivedMessage,
    SqsClientOptions,
    SqsPublisher,
    apply_topology,
    open_sqs_client,
    utcnow,
)
from orderflow_servicekit.db import create_engine
from orderflow_servicekit.telemetry.metrics import measure_handler
from orderflow_servicekit.topology import orderflow_queues
from orderflow_testkit.consumers import running_consumer
from orderflow_testkit.waiting import wait_for_value
from payment_service.db.payments import count_payments, get_payment_by_order
from payment_service.db.tables import inbox, outbox, payments
from payment_service.handler import OrderCreatedHandler, Outcome, order_created_handler
from payment_service.migrate import upgrade_async
from payment_service.provider import (
    ChargeRequest,
    ChargeResult,
    PaymentProvider,
    ProviderUnavailable,
    SimulatedProvider,
)

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class FlakyProvider:
    """Unavailable for the first `failures` charges, then the simulated provider."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self._inner = SimulatedProvider()

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise ProviderUnavailable("provider down")
        return await self._inner.charge(request)


async def handle(handler: OrderCreatedHandler, message: ReceivedMessage) -> Outcome:
    """What handling one well-formed message came to."""
    return await handler.handle_event(decode_order_created(message.body), message)


@dataclass
class Rig:
    engine: AsyncEngine
    client: SQSClient
    urls: QueueUrls
    relay: OutboxRelay
    orders: str
    results: str

    def handler(self, provider: PaymentProvider | None = None) -> MessageHandler:
        """What the consumer runs: decoding, then `OrderCreatedHandler`."""
        return order_created_handler(self.handling(provider))

    def handling(self, provider: PaymentProvider | None = None) -> OrderCreatedHandler:
        return OrderCreatedHandler(
            engine=self.engine,
            provider=provider or SimulatedProvider(),
            inbox=Inbox(self.engine, inbox, consumer="payment-service"),
            outbox=outbox,
            relay=self.relay,
            source="/orderflow/payment-service",
            results_queue=self.results,
        )

    async def send(self, body: str, attributes: Mapping[str, str] | None = None) -> None:
        await self.client.send_message(
            QueueUrl=self.urls[self.orders],
            MessageBody=body,
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()
            },
        )

    async def deliver(
        self, body: str, attributes: Mapping[str, str] | None = None
    ) -> ReceivedMessage:
        """Send `body` to the orders queue and receive it back, as the consumer would."""
        await self.send(body, attributes)
        url = self.urls[self.orders]
        response = await wait_for_value(
            lambda: self.client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ),
            lambda r: bool(r.get("Messages")),
            what="the order event on the orders queue",
        )
        raw = response["Messages"][0]
        await self.client.delete_message(QueueUrl=url, ReceiptHandle=raw["ReceiptHandle"])
        return ReceivedMessage(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw["Body"],
            attributes={
                k: v["StringValue"]
                for k, v in raw.get("MessageAttributes", {}).items()
                if "StringValue" in v
            },
            receive_count=int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            queue_url=url,
        )

    async def published_results(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """Relay the outbox and return every result message now on the results queue."""
        while await self.relay.relay_once():
            pass
        url = self.urls[self.results]
        expected = await self._published_rows()
        received: list[tuple[dict[str, Any], dict[str, str]]] = []

        async def receive() -> int:
            response = await self.client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            )
            for raw in response.get("Messages", []):
                attributes = {
                    k: v["StringValue"] for k, v in raw.get("MessageAttributes", {}).items()
                }
                received.append((json.loads(raw["Body"]), attributes))
                await self.client.delete_message(QueueUrl=url, ReceiptHandle=raw["ReceiptHandle"])
            return len(received)

        await wait_for_value(receive, lambda n: n >= expected, what="the result messages")
        left = await self.client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        assert left["Attributes"]["ApproximateNumberOfMessages"] == "0"
        assert left["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
        return received

    async def _published_rows(self) -> int:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_not(None))
            )
            return int(result.scalar_one())

    async def count(self, table_name: str) -> int:
        table = {"payments": payments, "outbox": outbox, "inbox": inbox}[table_name]
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())

    def consumer(self, handler: MessageHandler) -> Consumer:
        return Consumer(
            self.client,
            self.urls[self.orders],
            handler,
            ConsumerOptions(
                wait_time_s=1,
                concurrency=4,
                dead_letter_queue_url=self.urls[f"{self.orders}-dlq"],
                # Retry at once: the test proves the retry, not the backoff.
                retry_backoff=ExponentialBackoff(base_s=0.0, jitter=False),
                shutdown_grace_s=5,
            ),
        )


@pytest.fixture
async def rig(
    database_url: str, sqs_options: SqsClientOptions, queue_prefix: str
) -> AsyncIterator[Rig]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    orders, results = f"{queue_prefix}orders", f"{queue_prefix}payment-results"
    try:
        async with open_sqs_client(sqs_options) as client:
            urls = await apply_topology(
                client, orderflow_queues(orders=orders, payment_results=results)
            )
            relay = OutboxRelay(engine, outbox, SqsPublisher(client), urls)
            yield Rig(engine, client, urls, relay, orders, results)
    finally:
        await engine.dispose()


def order_created(total: str = "42.00", order_id: UUID | None = None) -> OrderCreated:
    return OrderCreated(
        source="/orderflow/order-service",
        traceparent=TRACEPARENT,
        data=OrderCreatedData(
            order_id=order_id or uuid7(),
            user_id="dev-user",
            total=Decimal(total),
            currency="USD",
            created_at=utcnow(),
        ),
    )


def payment_events(outcome: str) -> float:
    value = REGISTRY.get_sample_value("orderflow_payment_events_total", {"outcome": outcome})
    return value or 0.0


def all_payment_events() -> list[float]:
    return [payment_events(o.value) for o in Outcome]


def dead_letters_counted(queue: str) -> float:
    labels = {
        "service": "payment-service",
        "queue": queue,
        "event_type": "unknown",
        "outcome": "dead_lettered",
    }
    return REGISTRY.get_sample_value("orderflow_messages_handled_total", labels) or 0.0


async def test_an_order_event_makes_one_succeeded_payment_and_one_result_message(rig: Rig) -> None:
    event = order_created("42.00")
    order_id = str(event.data.order_id)
    message = await rig.deliver(encode_event(event), {TRACEPARENT_ATTRIBUTE: TRACEPARENT})

    assert await handle(rig.handling(), message) is Outcome.PAID

    async with rig.engine.connect() as conn:
        payment = await get_payment_by_order(conn, order_id)
    assert payment is not None
    assert payment.status == "succeeded"
    assert payment.amount == Decimal("42.00")
    assert payment.reason is None
    assert payment.provider_reference.startswith("sim_")
    [(body, attributes)] = await rig.published_results()
    assert body["type"] == PAYMENT_SUCCEEDED
    assert body["data"]["amount"] == "42.00"
    assert body["data"]["orderId"] == order_id
    assert body["data"]["paymentId"] == payment.id
    assert attributes == {
        EVENT_TYPE_ATTRIBUTE: PAYMENT_SUCCEEDED,
        TRACEPARENT_ATTRIBUTE: TRACEPARENT,
    }
    result = decode_payment_result(json.dumps(body))
    assert isinstance(result, PaymentSucceeded)
    assert result.data.amount == Decimal("42.00")
    assert result.source == "/orderflow/payment-service"


async def test_a_total_above_the_limit_makes_a_failed_payment_with_limit_exceeded(
    rig: Rig,
) -> None:
    event = order_created("10000.01")
    message = await rig.deliver(encode_event(event))

    assert await handle(rig.handling(), message) is Outcome.PAID

    async with rig.engine.connect() as conn:
        payment = await get_payment_by_order(conn, str(event.data.order_id))
    assert payment is not None
    assert (payment.status, payment.reason) == ("failed", "limit_exceeded")
    [(body, attributes)] = await rig.published_results()
    assert attributes[EVENT_TYPE_ATTRIBUTE] == PAYMENT_FAILED
    result = decode_payment_result(json.dumps(body))
    assert isinstance(result, PaymentFailed)
    assert result.data.reason == "limit_exceeded"
    assert body["data"]["amount"] == "10000.01"


async def test_the_same_event_handled_twice_makes_one_payment_and_one_result(rig: Rig) -> None:
    body = encode_event(order_created())
    handler = rig.handling()
    first = await handle(handler, await rig.deliver(body))
    second = await handle(handler, await rig.deliver(body))

    assert (first, second) == (Outcome.PAID, Outcome.DUPLICATE)
    assert await rig.count("payments") == 1
    assert len(await rig.published_results()) == 1


async def test_each_handled_event_counts_once_by_what_it_came_to(rig: Rig) -> None:
    order_id = uuid7()
    first = encode_event(order_created(order_id=order_id))
    handler = rig.handler()
    before = {o: payment_events(o.value) for o in Outcome}

    await handler(await rig.deliver(first))
    await handler(await rig.deliver(first))
    await handler(await rig.deliver(encode_event(order_created(order_id=order_id))))

    after = {o: payment_events(o.value) - before[o] for o in Outcome}
    assert after == {Outcome.PAID: 1, Outcome.DUPLICATE: 1, Outcome.ALREADY_PAID: 1}


async def test_two_events_for_the_same_order_make_one_payment(rig: Rig) -> None:
    order_id = uuid7()
    handler = rig.handling()
    first = await handle(handler, await rig.deliver(encode_event(order_created(order_id=order_id))))
    second = await handle(
        handler, await rig.deliver(encode_event(order_created(order_id=order_id)))
    )

    assert (first, second) == (Outcome.PAID, Outcome.ALREADY_PAID)
    async with rig.engine.connect() as conn:
        assert await count_payments(conn, str(order_id)) == 1
    assert await rig.count("inbox") == 2
    assert len(await rig.published_results()) == 1


async def test_concurrent_duplicates_of_one_order_make_one_payment(rig: Rig) -> None:
    order_id = uuid7()
    same = encode_event(order_created(order_id=order_id))
    bodies = [same, same, same] + [encode_event(order_created(order_id=order_id)) for _ in range(3)]
    messages = [await rig.deliver(body) for body in bodies]
    handler = rig.handling()

    outcomes = await asyncio.gather(*(handle(handler, m) for m in messages))

    assert outcomes.count(Outcome.PAID) == 1
    assert await rig.count("payments") == 1
    assert len(await rig.published_results()) == 1


async def test_a_transient_provider_failure_records_nothing_and_raises_for_a_retry(
    rig: Rig,
) -> None:
    message = await rig.deliver(encode_event(order_created()))
    counted = all_payment_events()

    with pytest.raises(ProviderUnavailable):
        await rig.handler(FlakyProvider(failures=1))(message)

    # A retry is no outcome of the event: the runtime's handler middleware counts it.
    assert all_payment_events() == counted
    assert [await rig.count(t) for t in ("payments", "outbox", "inbox")] == [0, 0, 0]


async def test_a_message_that_met_a_provider_failure_is_retried_and_then_paid(rig: Rig) -> None:
    provider = FlakyProvider(failures=1)
    event = order_created()
    await rig.send(encode_event(event))
    consumer = rig.consumer(rig.handler(provider))
    async with running_consumer(consumer):
        await wait_for_value(
            lambda: rig.count("payments"), lambda n: n == 1, what="the payment after a retry"
        )

    assert provider.calls == 2
    assert consumer.stats.retried == 1
    assert consumer.stats.succeeded == 1
    [(body, _)] = await rig.published_results()
    assert body["data"]["orderId"] == str(event.data.order_id)


async def test_poison_messages_go_to_the_dlq_with_their_reason_and_leave_the_queue(
    rig: Rig,
) -> None:
    unknown = {"specversion": "1.0", "type": "orderflow.order.shipped.v1", "id": "x"}
    violation = json.loads(encode_event(order_created()))
    violation["data"]["total"] = "-1"
    payment_result = PaymentSucceeded.model_validate(
        {
            "source": "/elsewhere",
            "data": {
                "orderId": str(uuid7()),
                "paymentId": str(uuid7()),
                "amount": "1.00",
                "currency": "USD",
                "processedAt": utcnow().isoformat(),
            },
        }
    )
    bodies = {
        "{not json": "invalid_json",
        json.dumps(unknown): "unknown_type",
        json.dumps(violation): "schema_violation",
        encode_event(payment_result): "unknown_type",
    }
    for body in bodies:
        await rig.send(body)
    poisoned = dead_letters_counted(rig.orders)
    consumer = rig.consumer(measure_handler("payment-service", rig.orders)(rig.handler()))
    async with running_consumer(consumer):

        async def dead_lettered() -> int:
            return consumer.stats.dead_lettered

        await wait_for_value(dead_lettered, lambda n: n == len(bodies), what="dead-lettering")

    dlq = rig.urls[f"{rig.orders}-dlq"]
    reasons: dict[str, str] = {}

    async def receive_dlq() -> int:
        response = await rig.client.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        for raw in response.get("Messages", []):
            reasons[raw["Body"]] = raw["MessageAttributes"][DLQ_REASON_ATTRIBUTE]["StringValue"]
        return len(reasons)

    await wait_for_value(receive_dlq, lambda n: n == len(bodies), what="the DLQ messages")
    assert reasons == bodies
    source = await rig.client.get_queue_attributes(
        QueueUrl=rig.urls[rig.orders],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    assert source["Attributes"] == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    assert dead_letters_counted(rig.orders) == poisoned + len(bodies)
    assert [await rig.count(t) for t in ("payments", "outbox", "inbox")] == [0, 0, 0]
