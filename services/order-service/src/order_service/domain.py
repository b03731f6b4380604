"""Order states and the only transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"


TERMINAL = frozenset({OrderStatus.PAID, OrderStatus.PAYMENT_FAILED})


def can_settle(current: OrderStatus, target: OrderStatus) -> bool:
    """A payment result settles a pending order once; a settled order never changes again."""
    return current is OrderStatus.PENDING and target in TERMINAL
