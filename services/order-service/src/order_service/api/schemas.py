"""What the HTTP API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from order_service.db.orders import Order
from order_service.domain import OrderStatus
from orderflow_contracts import Currency, Money

UserId = Annotated[str, StringConstraints(min_length=1, max_length=128)]

# What `Money` accepts, said precisely to clients (and to the schemathesis fuzz): pydantic's own
# schema for a Decimal would allow any string.
_TOTAL_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000, "multipleOf": 0.01},
        {
            "type": "string",
            "pattern": r"^(?:[1-9][0-9]{0,5}(?:\.[0-9]{1,2})?|0\.(?:[0-9][1-9]|[1-9]0?)"
            r"|1000000(?:\.00?)?)$",
        },
    ],
    "description": 'The amount: > 0, at most 2 decimals, at most 1,000,000 (42, 42.5 or "42.50").',
}


class Problem(BaseModel):
    """An error answer: RFC 9457 problem details (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


class OrderCreate(BaseModel):
    """A new order. `total` is a JSON number or a decimal string: > 0, at most 2 decimals,
    at most 1,000,000."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"userId": "dev-user", "total": 42.00}]},
    )

    userId: UserId | None = Field(
        default=None,
        description="Whose order it is. Required when the service runs with AUTH_MODE=none; "
        "with AUTH_MODE=jwt it defaults to the token's subject and may only equal it.",
    )
    total: Annotated[Money, WithJsonSchema(_TOTAL_SCHEMA)]
    currency: Currency | None = Field(
        default=None, description="ISO 4217 code; the service's default currency when absent."
    )


class OrderPublic(BaseModel):
    id: UUID
    userId: str
    total: Annotated[Decimal, PlainSerializer(lambda v: f"{v:.2f}", return_type=str)] = Field(
        description='A decimal string, e.g. "42.00".', json_schema_extra={"type": "string"}
    )
    currency: str
    status: OrderStatus
    failureReason: str | None = Field(
        default=None, description="Why the payment failed, when status is payment_failed."
    )
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, order: Order) -> OrderPublic:
        return cls(
            id=order.id,
            userId=order.user_id,
            total=order.total,
            currency=order.currency,
            status=order.status,
            failureReason=order.failure_reason,
            createdAt=order.created_at,
            updatedAt=order.updated_at,
        )


class OrderPage(BaseModel):
    items: list[OrderPublic]
    nextCursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
