"""The public names services build on: removing or renaming one breaks them."""

from __future__ import annotations

import orderflow_contracts

EXPECTED = {
    "MAX_TOTAL",
    "ORDER_CREATED",
    "PAYMENT_FAILED",
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
}


def test_the_public_names_are_exported_and_importable() -> None:
    assert set(orderflow_contracts.__all__) >= EXPECTED
    for name in orderflow_contracts.__all__:
        assert getattr(orderflow_contracts, name) is not None


def test_event_type_constants_are_the_contract() -> None:
    assert orderflow_contracts.ORDER_CREATED == "orderflow.order.created.v1"
    assert orderflow_contracts.PAYMENT_SUCCEEDED == "orderflow.payment.succeeded.v1"
    assert orderflow_contracts.PAYMENT_FAILED == "orderflow.payment.failed.v1"
    assert issubclass(orderflow_contracts.PoisonEventError, ValueError)
