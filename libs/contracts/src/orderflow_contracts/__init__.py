"""orderflow's event contracts: the CloudEvents envelope, the event types and their codec."""

from orderflow_contracts._codec import (
    PoisonEventError,
    PoisonReason,
    decode_event,
    decode_order_created,
    decode_payment_result,
    encode_event,
)
from orderflow_contracts._events import (
    MAX_TOTAL,
    ORDER_CREATED,
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    CloudEvent,
    Currency,
    Event,
    Money,
    OrderCreated,
    OrderCreatedData,
    PaymentFailed,
    PaymentFailedData,
    PaymentResult,
    PaymentSucceeded,
    PaymentSucceededData,
)
from orderflow_contracts._ids import uuid7
from orderflow_contracts._ports import ORDER_SERVICE_PORT, PAYMENT_SERVICE_PORT

__all__ = [
    "MAX_TOTAL",
    "ORDER_CREATED",
    "ORDER_SERVICE_PORT",
    "PAYMENT_FAILED",
    "PAYMENT_SERVICE_PORT",
    "PAYMENT_SUCCEEDED",
    "CloudEvent",
    "Currency",
    "Event",
    "Money",
    "OrderCreated",
    "OrderCreatedData",
    "PaymentFailed",
    "PaymentFailedData",
    "PaymentResult",
    "PaymentSucceeded",
    "PaymentSucceededData",
    "PoisonEventError",
    "PoisonReason",
    "decode_event",
    "decode_order_created",
    "decode_payment_result",
    "encode_event",
    "uuid7",
]
