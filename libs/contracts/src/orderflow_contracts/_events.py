"""The CloudEvents 1.0 envelope and the three event types orderflow exchanges.

Events travel as structured-mode CloudEvents JSON in the SQS message body. The models are strict:
unknown attributes are rejected, money is a decimal string, times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Final, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from orderflow_contracts._ids import uuid7

ORDER_CREATED: Final = "orderflow.order.created.v1"
PAYMENT_SUCCEEDED: Final = "orderflow.payment.succeeded.v1"
PAYMENT_FAILED: Final = "orderflow.payment.failed.v1"

MAX_TOTAL: Final = Decimal("1000000")


def _two_places(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("must have at most 2 decimal places")
    return value.quantize(Decimal("0.01"))


Money = Annotated[
    Decimal,
    Field(gt=0, le=MAX_TOTAL, allow_inf_nan=False),
    AfterValidator(_two_places),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json"),
]
"""A positive amount with at most two decimals, serialised as a decimal string ("42.00")."""

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 alphabetic code."""


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        # e.g. 0001-01-01T00:00:00+01:00: a valid aware time whose UTC form is before year 1.
        # pydantic only turns ValueError into a validation error; anything else would escape.
        raise ValueError("must be a time expressible in UTC between years 1 and 9999") from exc


UtcTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class OrderCreatedData(_Strict):
    order_id: UUID = Field(alias="orderId")
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(alias="userId")
    total: Money
    currency: Currency
    created_at: UtcTime = Field(alias="createdAt")


class PaymentSucceededData(_Strict):
    order_id: UUID = Field(alias="orderId")
    payment_id: UUID = Field(alias="paymentId")
    amount: Money
    currency: Currency
    processed_at: UtcTime = Field(alias="processedAt")


class PaymentFailedData(_Strict):
    order_id: UUID = Field(alias="orderId")
    payment_id: UUID = Field(alias="paymentId")
    amount: Money
    currency: Currency
    reason: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    processed_at: UtcTime = Field(alias="processedAt")


DataT = TypeVar("DataT", bound=_Strict)


class CloudEvent(_Strict, Generic[DataT]):
    """A CloudEvents 1.0 structured event; `traceparent` is the distributed tracing extension."""

    specversion: Literal["1.0"] = "1.0"
    id: UUID = Field(default_factory=uuid7)
    source: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    type: str
    time: UtcTime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    traceparent: (
        Annotated[
            str, StringConstraints(pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
        ]
        | None
    ) = None
    data: DataT


class OrderCreated(CloudEvent[OrderCreatedData]):
    type: Literal["orderflow.order.created.v1"] = ORDER_CREATED


class PaymentSucceeded(CloudEvent[PaymentSucceededData]):
    type: Literal["orderflow.payment.succeeded.v1"] = PAYMENT_SUCCEEDED


class PaymentFailed(CloudEvent[PaymentFailedData]):
    type: Literal["orderflow.payment.failed.v1"] = PAYMENT_FAILED


Event = Annotated[OrderCreated | PaymentSucceeded | PaymentFailed, Field(discriminator="type")]
PaymentResult = Annotated[PaymentSucceeded | PaymentFailed, Field(discriminator="type")]
