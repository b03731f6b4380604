"""Order queries and statements. None of them commits: the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from order_service.db.tables import idempotency_keys, orders
from order_service.domain import OrderStatus


@dataclass(frozen=True, slots=True)
class Order:
    id: UUID
    user_id: str
    total: Decimal
    currency: str
    status: OrderStatus
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime


def _order(row: Row[Any]) -> Order:
    return Order(
        id=UUID(row.id),
        user_id=row.user_id,
        total=row.total,
        currency=row.currency,
        status=OrderStatus(row.status),
        failure_reason=row.failure_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def insert_order(conn: AsyncConnection, order: Order) -> None:
    await conn.execute(
        orders.insert().values(
            id=str(order.id),
            user_id=order.user_id,
            total=order.total,
            currency=order.currency,
            status=order.status.value,
            failure_reason=order.failure_reason,
            created_at=order.created_at,
            updated_at=order.updated_at,
        )
    )


async def get_order(conn: AsyncConnection, order_id: UUID) -> Order | None:
    row = (await conn.execute(select(orders).where(orders.c.id == str(order_id)))).first()
    return None if row is None else _order(row)


async def list_orders(
    conn: AsyncConnection,
    *,
    user_id: str | None,
    status: OrderStatus | None,
    before: UUID | None,
    limit: int,
) -> list[Order]:
    """Newest first; `before` is the keyset cursor (the last id of the previous page)."""
    query = select(orders).order_by(orders.c.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(orders.c.user_id == user_id)
    if status is not None:
        query = query.where(orders.c.status == status.value)
    if before is not None:
        query = query.where(orders.c.id < str(before))
    return [_order(row) for row in (await conn.execute(query)).all()]


async def settle_order(
    conn: AsyncConnection,
    order_id: UUID,
    status: OrderStatus,
    failure_reason: str | None,
    at: datetime,
) -> datetime | None:
    """Move a pending order to a final status; return when it was created (for the end-to-end
    latency), or None when it was not pending."""
    result = await conn.execute(
        update(orders)
        .where(orders.c.id == str(order_id), orders.c.status == OrderStatus.PENDING.value)
        .values(status=status.value, failure_reason=failure_reason, updated_at=at)
        .returning(orders.c.created_at)
    )
    created_at: datetime | None = result.scalar_one_or_none()
    return created_at


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    request_hash: str
    order_id: UUID


async def find_idempotency_key(conn: AsyncConnection, key: str) -> IdempotencyRecord | None:
    row = (
        await conn.execute(
            select(idempotency_keys.c.request_hash, idempotency_keys.c.order_id).where(
                idempotency_keys.c.key == key
            )
        )
    ).first()
    return None if row is None else IdempotencyRecord(row.request_hash, UUID(row.order_id))


async def insert_idempotency_key(
    conn: AsyncConnection, key: str, request_hash: str, order_id: UUID, at: datetime
) -> None:
    await conn.execute(
        idempotency_keys.insert().values(
            key=key, request_hash=request_hash, order_id=str(order_id), created_at=at
        )
    )
