"""Unit tests: money, validation, state transitions, fingerprints, trace context."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import ValidationError

from order_service.api.schemas import OrderCreate
from order_service.domain import OrderStatus, can_settle
from order_service.placing import PlaceOrder, request_fingerprint
from order_service.tracecontext import child_traceparent


@pytest.mark.parametrize(
    ("total", "expected"),
    [(42, "42.00"), (42.5, "42.50"), ("19.99", "19.99"), (19.99, "19.99"), (1000000, "1000000.00")],
)
def test_totals_become_exact_decimals_with_two_places(total: object, expected: str) -> None:
    order = OrderCreate.model_validate({"userId": "u", "total": total})
    assert isinstance(order.total, Decimal)
    assert f"{order.total:.2f}" == expected
    assert order.total == Decimal(expected)


@pytest.mark.parametrize(
    "total", [-1, 0, 0.001, "abc", float("inf"), float("nan"), 1000000.01, True, None, [1]]
)
def test_totals_outside_the_rules_are_rejected(total: object) -> None:
    with pytest.raises(ValidationError):
        OrderCreate.model_validate({"userId": "u", "total": total})


@pytest.mark.parametrize(
    "body",
    [
        {"userId": "", "total": 1},
        {"userId": "x" * 129, "total": 1},
        {"userId": 7, "total": 1},
        {"userId": "u", "total": 1, "currency": "eur"},
        {"userId": "u", "total": 1, "extra": True},
    ],
)
def test_malformed_orders_are_rejected(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OrderCreate.model_validate(body)


def test_the_body_may_leave_out_userid_the_route_decides_by_auth_mode() -> None:
    # AUTH_MODE=jwt: the token's subject; AUTH_MODE=none: a 422 (tests/test_order_auth.py).
    assert OrderCreate.model_validate({"total": 1}).userId is None


def test_only_a_pending_order_settles_and_only_to_a_final_status() -> None:
    assert can_settle(OrderStatus.PENDING, OrderStatus.PAID)
    assert can_settle(OrderStatus.PENDING, OrderStatus.PAYMENT_FAILED)
    assert not can_settle(OrderStatus.PENDING, OrderStatus.PENDING)
    assert not can_settle(OrderStatus.PAID, OrderStatus.PAYMENT_FAILED)
    assert not can_settle(OrderStatus.PAYMENT_FAILED, OrderStatus.PAID)


def _command(total: str, user: str = "u") -> PlaceOrder:
    return PlaceOrder(
        user_id=user, total=Decimal(total), currency="USD", idempotency_key="k", traceparent="t"
    )


def test_the_fingerprint_sees_the_body_not_its_spelling() -> None:
    assert request_fingerprint(_command("42")) == request_fingerprint(_command("42.00"))
    assert request_fingerprint(_command("42")) != request_fingerprint(_command("42.01"))
    assert request_fingerprint(_command("42")) != request_fingerprint(_command("42", "v"))


def test_a_valid_traceparent_is_continued_and_a_bad_one_replaced() -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    child = child_traceparent(incoming)
    assert child.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert child != incoming
    fresh = child_traceparent("garbage")
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", fresh)
    assert child_traceparent(None) != child_traceparent(None)
