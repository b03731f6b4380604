"""Turning events into SQS message bodies and back, with every failure classified."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from orderflow_contracts._events import Event, OrderCreated, PaymentResult

EventT = TypeVar("EventT")


class PoisonReason(StrEnum):
    """Why a message body can never become a valid event, however often it is retried."""

    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    UNKNOWN_TYPE = "unknown_type"
    SCHEMA_VIOLATION = "schema_violation"


class PoisonEventError(ValueError):
    """A message body that is not a valid event of an expected type."""

    def __init__(self, reason: PoisonReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode_event(event: BaseModel) -> str:
    """Serialise an event to its structured-mode CloudEvents JSON text."""
    return event.model_dump_json(by_alias=True, exclude_none=True)


_EVENT = TypeAdapter[Event](Event)
_PAYMENT_RESULT = TypeAdapter[PaymentResult](PaymentResult)
_ORDER_CREATED = TypeAdapter[OrderCreated](OrderCreated)


def _decode(body: str | bytes, adapter: TypeAdapter[EventT], known: frozenset[str]) -> EventT:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PoisonEventError(PoisonReason.NOT_UTF8, str(exc)) from exc
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PoisonEventError(PoisonReason.INVALID_JSON, str(exc)) from exc
    if not isinstance(raw, dict):
        raise PoisonEventError(PoisonReason.SCHEMA_VIOLATION, "the body is not a JSON object")
    event_type = raw.get("type")
    if not isinstance(event_type, str) or event_type not in known:
        raise PoisonEventError(PoisonReason.UNKNOWN_TYPE, f"unexpected event type {event_type!r}")
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise PoisonEventError(PoisonReason.SCHEMA_VIOLATION, detail) from exc


_ALL_TYPES = frozenset(
    {"orderflow.order.created.v1", "orderflow.payment.succeeded.v1", "orderflow.payment.failed.v1"}
)
_ORDER_TYPES = frozenset({"orderflow.order.created.v1"})
_RESULT_TYPES = frozenset({"orderflow.payment.succeeded.v1", "orderflow.payment.failed.v1"})


def decode_event(body: str | bytes) -> Event:
    """Parse any orderflow event; raise `PoisonEventError` for anything else."""
    return _decode(body, _EVENT, _ALL_TYPES)


def decode_order_created(body: str | bytes) -> OrderCreated:
    """Parse an order-created event; raise `PoisonEventError` for anything else."""
    return _decode(body, _ORDER_CREATED, _ORDER_TYPES)


def decode_payment_result(body: str | bytes) -> PaymentResult:
    """Parse a payment result event; raise `PoisonEventError` for anything else."""
    return _decode(body, _PAYMENT_RESULT, _RESULT_TYPES)
