"""Placing an order on PostgreSQL in one round trip: the order API's hot path.

The order row, its outbox row and, when the client sent one, the idempotency key go in with one
statement of data-modifying CTEs, run on the pooled connection's driver: no BEGIN and COMMIT
round trips and no SQL construction per request. One statement is one transaction, so it stores
exactly what the portable path's transaction stores, all or nothing.

A key that already exists inserts nothing (ON CONFLICT waits for a concurrent insert of the same
key to commit or roll back first); the caller then answers with the earlier order.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from order_service.db.orders import Order
from orderflow_messaging import OutgoingMessage
from orderflow_servicekit.failures import dependency_unavailable

_PLACE: Final = """
WITH new_key AS (
    INSERT INTO idempotency_keys (key, request_hash, order_id, created_at)
    SELECT $9::varchar, $10::varchar, $1::varchar, $6::timestamptz
    WHERE $9::varchar IS NOT NULL
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
), placed AS (
    INSERT INTO orders
        (id, user_id, total, currency, status, failure_reason, created_at, updated_at)
    SELECT $1::varchar, $2::varchar, $3::numeric, $4::varchar, $5::varchar, NULL,
        $6::timestamptz, $6::timestamptz
    WHERE $9::varchar IS NULL OR EXISTS (SELECT FROM new_key)
    RETURNING 1
)
INSERT INTO outbox (id, queue, body, attributes, group_id, created_at, available_at, attempts)
SELECT $7::varchar, $8::varchar, $11::text, $12::text, NULL, $6::timestamptz, $6::timestamptz, 0
WHERE EXISTS (SELECT FROM placed)
RETURNING 1
"""


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
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        try:
            stored = await driver.fetchval(
                _PLACE,
                str(order.id),
                order.user_id,
                order.total,
                order.currency,
                order.status.value,
                at,
                message.id,
                queue,
                idempotency_key,
                fingerprint,
                message.body,
                json.dumps(dict(message.attributes)),
            )
        except Exception as exc:
            # A connection the server closed just as the statement went out can fail with a
            # protocol error instead of a connection error; it is closed all the same.
            if dependency_unavailable(exc) or driver.is_closed():
                # The driver raised past SQLAlchemy, which therefore cannot do what it does on a
                # disconnect: drop this connection, and the pool's others, which were most
                # likely cut by the same restart. Otherwise each would fail one more request.
                await conn.invalidate()
                await engine.dispose(close=False)
            raise
    return stored is not None
