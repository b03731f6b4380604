"""Payment results settle orders: once, whatever the duplicates, and poison goes to the DLQ."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from order_service.testing import RunningOrderService
from orderflow_contracts import (
    PaymentFailed,
    PaymentFailedData,
    PaymentSucceeded,
    PaymentSucceededData,
    encode_event,
    uuid7,
)
from orderflow_messaging import DLQ_REASON_ATTRIBUTE, EVENT_TYPE_ATTRIBUTE, utcnow
from orderflow_testkit.waiting import wait_for_value

if TYPE_CHECKING:
    from types_aiobotocore_sqs.type_defs import MessageAttributeValueTypeDef

SOURCE = "/orderflow/payment-service"


def succeeded(order_id: str) -> PaymentSucceeded:
    return PaymentSucceeded(
        source=SOURCE,
        data=PaymentSucceededData(
            order_id=UUID(order_id),
            payment_id=uuid7(),
            amount=Decimal("42.00"),
            currency="USD",
            processed_at=utcnow(),
        ),
    )


def failed(order_id: str, reason: str = "limit_exceeded") -> PaymentFailed:
    return PaymentFailed(
        source=SOURCE,
        data=PaymentFailedData(
            order_id=UUID(order_id),
            payment_id=uuid7(),
            amount=Decimal("42.00"),
            currency="USD",
            reason=reason,
            processed_at=utcnow(),
        ),
    )


async def send_result(service: RunningOrderService, body: str, event_type: str = "") -> None:
    url = service.runtime.queue_urls[service.settings.payment_results_queue]
    attributes: dict[str, MessageAttributeValueTypeDef] = {}
    if event_type:
        attributes[EVENT_TYPE_ATTRIBUTE] = {"DataType": "String", "StringValue": event_type}
    await service.runtime.client.send_message(
        QueueUrl=url, MessageBody=body, MessageAttributes=attributes
    )


async def place(service: RunningOrderService) -> str:
    reply = await service.http.post("/orders", json={"userId": "dev-user", "total": 42})
    order_id: str = reply.json()["id"]
    return order_id


async def order_when(
    service: RunningOrderService, order_id: str, status: str, timeout_s: float = 10
) -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        body: dict[str, Any] = (await service.http.get(f"/orders/{order_id}")).json()
        return body

    return await wait_for_value(
        fetch, lambda o: o["status"] == status, timeout_s=timeout_s, what=f"order {status}"
    )


async def queue_is_drained(service: RunningOrderService) -> None:
    url = service.runtime.queue_urls[service.settings.payment_results_queue]

    async def counts() -> tuple[str, str]:
        attrs = await service.runtime.client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )
        a = attrs["Attributes"]
        return a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]

    await wait_for_value(counts, lambda c: c == ("0", "0"), what="results queue drained")


async def test_a_succeeded_payment_marks_the_order_paid(order_service: RunningOrderService) -> None:
    order_id = await place(order_service)
    event = succeeded(order_id)
    await send_result(order_service, encode_event(event), event.type)

    order = await order_when(order_service, order_id, "paid")
    assert order["failureReason"] is None
    assert order["updatedAt"] > order["createdAt"]


async def test_a_failed_payment_marks_the_order_failed_with_its_reason(
    order_service: RunningOrderService,
) -> None:
    order_id = await place(order_service)
    await send_result(order_service, encode_event(failed(order_id)))

    order = await order_when(order_service, order_id, "payment_failed")
    assert order["failureReason"] == "limit_exceeded"


async def test_a_redelivered_or_contradicting_result_changes_nothing(
    order_service: RunningOrderService,
) -> None:
    order_id = await place(order_service)
    event = succeeded(order_id)
    await send_result(order_service, encode_event(event))
    paid = await order_when(order_service, order_id, "paid")

    await send_result(order_service, encode_event(event))
    await send_result(order_service, encode_event(failed(order_id)))
    await queue_is_drained(order_service)

    assert (await order_service.http.get(f"/orders/{order_id}")).json() == paid


async def test_poison_results_go_to_the_dlq_with_their_reason(
    order_service: RunningOrderService,
) -> None:
    unknown_order = succeeded(str(uuid7()))
    await send_result(order_service, "{not json")
    await send_result(order_service, '{"type": "orderflow.order.created.v1"}')
    await send_result(order_service, encode_event(unknown_order))
    dlq = order_service.runtime.queue_urls[f"{order_service.settings.payment_results_queue}-dlq"]
    client = order_service.runtime.client
    reasons: list[str] = []

    async def collect() -> list[str]:
        reply = await client.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        for m in reply.get("Messages", []):
            reasons.append(m["MessageAttributes"][DLQ_REASON_ATTRIBUTE]["StringValue"])
            await client.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
        return reasons

    await wait_for_value(collect, lambda r: len(r) >= 3, timeout_s=15, what="3 DLQ messages")
    assert sorted(reasons) == ["invalid_json", "unknown_order", "unknown_type"]
    await queue_is_drained(order_service)
