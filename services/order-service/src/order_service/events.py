"""The events order-service publishes, as outbox messages."""

from __future__ import annotations

from typing import Final

from order_service.db.orders import Order
from orderflow_contracts import OrderCreated, OrderCreatedData, encode_event
from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    MAX_MESSAGE_BYTES,
    TRACEPARENT_ATTRIBUTE,
    OutgoingMessage,
    message_size,
)

SOURCE: Final = "/orderflow/order-service"


class UnpublishableEventError(ValueError):
    """The event would be larger than SQS accepts: the order must not be stored with it."""


def ensure_publishable(message: OutgoingMessage) -> OutgoingMessage:
    """`message`, or `UnpublishableEventError` when its body and attributes exceed SQS's limit.

    Checked when the order is placed, inside its transaction: an outbox row the relay could
    never send would otherwise sit there forever while the API had answered 201.
    """
    size = message_size(message)
    if size > MAX_MESSAGE_BYTES:
        raise UnpublishableEventError(
            f"the event is {size} bytes; SQS accepts at most {MAX_MESSAGE_BYTES}"
        )
    return message


def order_created_message(order: Order, traceparent: str) -> OutgoingMessage:
    event = OrderCreated(
        source=SOURCE,
        traceparent=traceparent,
        data=OrderCreatedData(
            order_id=order.id,
            user_id=order.user_id,
            total=order.total,
            currency=order.currency,
            created_at=order.created_at,
        ),
    )
    return ensure_publishable(
        OutgoingMessage(
            id=str(event.id),
            body=encode_event(event),
            attributes={EVENT_TYPE_ATTRIBUTE: event.type, TRACEPARENT_ATTRIBUTE: traceparent},
        )
    )
