"""The OrderCreated handler's database work on PostgreSQL, one round trip each.

`already_handled` is the inbox pre-check: one SELECT outside any transaction. `record_payment`
writes the inbox row, the payment and its result event with one statement of data-modifying
CTEs, run on the pooled connection's driver: no BEGIN and COMMIT round trips and no SQL
construction per message. One statement is one transaction, so it stores exactly what the
portable path (`Inbox.handle_once` with `insert_payment` and `add_to_outbox`) stores, all or
nothing: the payment only with a new inbox row, the event only with a new payment. The tables
are those of `db/tables.py`; the inbox and outbox parts come from orderflow_messaging, which
owns those tables.

ON CONFLICT waits for a concurrent insert of the same key to commit or roll back first, so two
deliveries of one event handled at once still make one payment and one event.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from orderflow_messaging import (
    OutgoingMessage,
    inbox_insert,
    inbox_seen,
    outbox_insert,
    outbox_values,
)
from orderflow_servicekit import driver_connection
from payment_service.db.payments import Payment
from payment_service.db.tables import inbox, outbox

_CENT: Final = Decimal("0.01")

_SEEN: Final = inbox_seen(inbox)

# $1-$3 the inbox row, $4-$11 the payment, $12 onwards the outbox row.
_RECORD: Final = f"""
WITH handled AS (
{inbox_insert(inbox, consumer="$1", message_id="$2", at="$3")}
), paid AS (
    INSERT INTO payments
        (id, order_id, amount, currency, status, reason, provider_reference, created_at)
    SELECT $4::varchar, $5::varchar, $6::numeric, $7::varchar, $8::varchar, $9::text,
        $10::varchar, $11::timestamptz
    WHERE EXISTS (SELECT FROM handled)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING 1
), queued AS (
{outbox_insert(outbox, first=12, at="$3", when="EXISTS (SELECT FROM paid)")}
)
SELECT EXISTS (SELECT FROM handled) AS handled, EXISTS (SELECT FROM paid) AS paid
"""  # noqa: S608 (parameters only; the inbox and outbox parts are the library's, built once)


class Recorded(Enum):
    """What `record_payment` stored."""

    PAYMENT = "payment"
    """The inbox row, the payment and its event."""
    INBOX_ONLY = "inbox_only"
    """The inbox row only: the order already had a payment."""
    NOTHING = "nothing"
    """Nothing: the event was handled before."""


async def already_handled(engine: AsyncEngine, consumer: str, event_id: str) -> bool:
    """Whether the inbox holds `event_id` for `consumer`."""
    async with driver_connection(engine) as driver:
        return await driver.fetchval(_SEEN, consumer, event_id) is not None


async def record_payment(
    engine: AsyncEngine,
    *,
    consumer: str,
    event_id: str,
    payment: Payment,
    queue: str,
    message: OutgoingMessage,
    at: datetime,
) -> Recorded:
    """Store the inbox row, `payment` and `message` for `queue`, as far as each is new."""
    async with driver_connection(engine) as driver:
        row = await driver.fetchrow(
            _RECORD,
            consumer,
            event_id,
            at,
            payment.id,
            payment.order_id,
            Decimal(payment.amount).quantize(_CENT),
            payment.currency,
            payment.status,
            payment.reason,
            payment.provider_reference,
            payment.created_at,
            *outbox_values(queue, message),
        )
    if not row["handled"]:
        return Recorded.NOTHING
    return Recorded.PAYMENT if row["paid"] else Recorded.INBOX_ONLY
