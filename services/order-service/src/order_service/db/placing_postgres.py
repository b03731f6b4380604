"""Placing an order on PostgreSQL in one round trip: the order API's hot path.

The order row, its outbox row and, when the client sent one, the idempotency key go in with one
statement of data-modifying CTEs, run on the pooled connection's driver: no BEGIN and COMMIT
round trips and no SQL construction per request. One statement is one transaction, so it stores
exactly what the portable path's transaction stores, all or nothing.

A key that already exists inserts nothing (ON CONFLICT waits for a concurrent insert of the same
key to commit or roll back first); the caller then answers with the earlier order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from order_service.db.orders import Order
from order_service.db.tables import outbox
from orderflow_messaging import OutgoingMessage, outbox_insert, outbox_values
from orderflow_servicekit import driver_connection

# $1-$6 the order and its time, $7-$8 the key, $9 onwards the outbox row.
_PLACE: Final = f"""
WITH new_key AS (
    INSERT INTO idempotency_keys (key, request_hash, order_id, created_at)
    SELECT $7::varchar, $8::varchar, $1::varchar, $6::timestamptz
    WHERE $7::varchar IS NOT NULL
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
), placed AS (
    INSERT INTO orders
        (id, user_id, total, currency, status, failure_reason, created_at, updated_at)
    SELECT $1::varchar, $2::varchar, $3::numeric, $4::varchar, $5::varchar, NULL,
        $6::timestamptz, $6::timestamptz
    WHERE $7::varchar IS NULL OR EXISTS (SELECT FROM new_key)
    RETURNING 1
)
{outbox_insert(outbox, first=9, at="$6", when="EXISTS (SELECT FROM placed)")}
"""  # noqa: S608 (parameters only; the outbox part is the library's, built once here)


async def insert_order_with_event(
    engine: AsyncEngine,
    order: Order,
    message: OutgoingMessage,
    *,
    queue: str,
    idempotency_key: str | None,
    fingerprint: str,
    at: datetime,
) -> bool:
    """Store `order`, its event for `queue` and the key; False (nothing stored) when the key
    was used before."""
    async with driver_connection(engine) as driver:
        stored = await driver.fetchval(
            _PLACE,
            str(order.id),
            order.user_id,
            order.total,
            order.currency,
            order.status.value,
            at,
            idempotency_key,
            fingerprint,
            *outbox_values(queue, message),
        )
    return stored is not None
