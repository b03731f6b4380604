"""POST /orders, GET /orders/{id}, GET /orders."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Response, status
from fastapi.exceptions import RequestValidationError

from order_service import metrics
from order_service.api.deps import EngineDep, RuntimeDep, SettingsDep, require_json
from order_service.api.schemas import OrderCreate, OrderPage, OrderPublic, Problem
from order_service.auth import Principal, PrincipalDep, current_principal, forbidden
from order_service.db import orders as repo
from order_service.domain import OrderStatus
from order_service.events import UnpublishableEventError
from order_service.placing import IdempotencyKeyReused, PlaceOrder, place_order
from order_service.tracecontext import event_traceparent, trace_id_of
from orderflow_servicekit import ProblemError, bind_log_context

logger = logging.getLogger("orderflow.order_service.orders")

# Authentication runs first, before any other check of the request (FastAPI caches the
# dependency, so the routes' own `PrincipalDep` is the same value).
router = APIRouter(prefix="/orders", tags=["orders"], dependencies=[Depends(current_principal)])

_PROBLEM: dict[str, Any] = {
    "content": {"application/problem+json": {"schema": Problem.model_json_schema()}}
}
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "No bearer token, or one that is not acceptable (AUTH_MODE=jwt)",
        **_PROBLEM,
    },
    503: {
        "description": "Not ready, or the identity provider's keys cannot be fetched",
        **_PROBLEM,
    },
    # FastAPI would declare its own JSON shape for 422; the service answers problem+json.
    422: {"description": "The request does not match the schema", **_PROBLEM},
}


def _owner(principal: Principal | None, requested: str | None) -> str:
    """Whose order a new one is: the body's userId, checked against the token's subject."""
    if principal is None:
        if requested is None:
            # Without authentication there is no subject to default to: userId stays required.
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body", "userId"), "msg": "Field required"}]
            )
        return requested
    if requested is not None and requested != principal.subject:
        raise forbidden("You can place orders only for yourself.", admin_would_do=False)
    return principal.subject


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderPublic,
    dependencies=[Depends(require_json)],
    summary="Place an order",
    responses={
        **_AUTH,
        201: {"description": "The order, pending until its payment result arrives"},
        400: {"description": "Malformed JSON", **_PROBLEM},
        403: {"description": "userId is not the token's subject", **_PROBLEM},
        413: {"description": "Body too large", **_PROBLEM},
        415: {"description": "Not JSON", **_PROBLEM},
        422: {"description": "Invalid order, or Idempotency-Key reused", **_PROBLEM},
    },
)
async def create_order(
    body: OrderCreate,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Retry-safe creation: the same key and body return the same order.",
        ),
    ] = None,
    traceparent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    command = PlaceOrder(
        user_id=_owner(principal, body.userId),
        total=body.total,
        currency=body.currency or settings.default_currency,
        idempotency_key=idempotency_key,
        traceparent=event_traceparent(traceparent),
    )
    bind_log_context(trace_id=trace_id_of(command.traceparent))
    try:
        order, replayed = await place_order(
            runtime.engine, command, queue=settings.orders_queue, relay=runtime.relay
        )
    except IdempotencyKeyReused:
        raise ProblemError(
            422,
            "This Idempotency-Key was already used with a different request body.",
            title="Idempotency-Key reused",
        ) from None
    except UnpublishableEventError as exc:
        # Nothing was stored: the transaction rolled back before the outbox row was written.
        raise ProblemError(422, f"The order cannot be published: {exc}.") from None
    headers = {"Location": f"/orders/{order.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    else:
        metrics.ORDERS_CREATED.inc()
        logger.info("order %s placed", order.id)
    # Serialised here by pydantic: FastAPI would validate the model it was just built from again.
    return Response(
        OrderPublic.of(order).model_dump_json(),
        status_code=status.HTTP_201_CREATED,
        headers=headers,
        media_type="application/json",
    )


@router.get(
    "/{order_id}",
    response_model=OrderPublic,
    summary="Get one order",
    responses={
        404: {"description": "No such order", **_PROBLEM},
        403: {"description": "Another user's order (needs the orders:admin scope)", **_PROBLEM},
        **_AUTH,
    },
)
async def get_order(order_id: str, engine: EngineDep, principal: PrincipalDep) -> OrderPublic:
    try:
        parsed = UUID(order_id)
    except ValueError:
        parsed = None
    order = None
    if parsed is not None:
        async with engine.connect() as conn:
            order = await repo.get_order(conn, parsed)
    if order is None:
        raise ProblemError(404, f"There is no order {order_id[:64]!r}.", title="Order not found")
    if principal is not None and not principal.may_read(order.user_id):
        raise forbidden("This order belongs to another user.", admin_would_do=True)
    return OrderPublic.of(order)


def _decode_cursor(cursor: str) -> UUID:
    try:
        return UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise ProblemError(400, "The cursor is not one this API returned.") from None


def _encode_cursor(order_id: UUID) -> str:
    return base64.urlsafe_b64encode(order_id.bytes).decode().rstrip("=")


@router.get(
    "",
    response_model=OrderPage,
    summary="List orders, newest first",
    responses={
        400: {"description": "Bad cursor", **_PROBLEM},
        403: {"description": "Another user's orders (needs the orders:admin scope)", **_PROBLEM},
        **_AUTH,
    },
)
async def list_orders(
    engine: EngineDep,
    principal: PrincipalDep,
    user_id: Annotated[str | None, Query(alias="userId", max_length=128)] = None,
    order_status: Annotated[OrderStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> OrderPage:
    if principal is not None and not principal.is_admin:
        # Without orders:admin a caller lists its own orders: userId defaults to its subject.
        if user_id is not None and user_id != principal.subject:
            raise forbidden("These orders belong to another user.", admin_would_do=True)
        user_id = principal.subject
    before = _decode_cursor(cursor) if cursor else None
    async with engine.connect() as conn:
        page = await repo.list_orders(
            conn, user_id=user_id, status=order_status, before=before, limit=limit + 1
        )
    items, more = page[:limit], len(page) > limit
    return OrderPage(
        items=[OrderPublic.of(o) for o in items],
        nextCursor=_encode_cursor(items[-1].id) if more else None,
    )
