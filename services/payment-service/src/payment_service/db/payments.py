"""Payments repository: plain SQLAlchemy Core; functions never commit, the caller does."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from payment_service.db.tables import payments


@dataclass(frozen=True, slots=True, kw_only=True)
class Payment:
    """One payment row; `status` is "succeeded" or "failed" (then `reason` says why)."""

    id: str
    order_id: str
    amount: Decimal
    currency: str
    status: str
    reason: str | None
    provider_reference: str
    created_at: datetime


async def insert_payment(conn: AsyncConnection, payment: Payment) -> bool:
    """Insert `payment` unless its order already has one; True when this call inserted it."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(payments)
        .values(**asdict(payment))
        .on_conflict_do_nothing(index_elements=["order_id"])
    )
    result = await conn.execute(stmt)
    return result.rowcount == 1


async def count_payments(conn: AsyncConnection, order_id: str) -> int:
    """How many payments `order_id` has (0 or 1, which is the point)."""
    result = await conn.execute(
        select(func.count()).select_from(payments).where(payments.c.order_id == order_id)
    )
    return int(result.scalar_one())


async def get_payment_by_order(conn: AsyncConnection, order_id: str) -> Payment | None:
    """The payment of `order_id`, if it has one."""
    row = (await conn.execute(select(payments).where(payments.c.order_id == order_id))).first()
    if row is None:
        return None
    return Payment(**row._asdict())
