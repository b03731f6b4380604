"""Consuming payment results: each settles its pending order once, in one transaction with the
inbox row, so a redelivered result changes nothing.

On PostgreSQL that transaction is one statement of data-modifying CTEs on the pooled connection's
driver (no BEGIN and COMMIT round trips, no SQL built per message); elsewhere it goes through
`Inbox.handle_once`. Both store the same: the inbox row only for a known order (an unknown one is
poison, and its message keeps no inbox row for whoever looks at it in the DLQ), the new status
only for a pending order.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from order_service import metrics
from order_service.db import orders as repo
from order_service.db import tables
from order_service.domain import OrderStatus
from orderflow_contracts import PaymentFailed, PaymentResult, decode_payment_result
from orderflow_messaging import (
    Inbox,
    MessageHandler,
    PoisonMessage,
    ReceivedMessage,
    inbox_insert,
    utcnow,
)
from orderflow_servicekit import bind_log_context, driver_connection, event_handler, traced

logger = logging.getLogger("orderflow.order_service.results")

Settled = tuple[OrderStatus, datetime]
"""What settling an order did: its final status and when it was created."""

# The order's status before (NULL: no such order), whether the inbox row is new, and the order's
# creation time when this statement settled it.
_HANDLED: Final = inbox_insert(
    tables.inbox, consumer="$1", message_id="$2", at="$6", when="EXISTS (SELECT FROM current)"
)
# Parameters only; the inbox part is the library's, built once here.
_SETTLE: Final = f"""
WITH current AS (
    SELECT status FROM orders WHERE id = $3::varchar
), handled AS (
{_HANDLED}
), settled AS (
    UPDATE orders
    SET status = $4::varchar, failure_reason = $5::varchar, updated_at = $6::timestamptz
    WHERE id = $3::varchar AND status = $7::varchar AND EXISTS (SELECT FROM handled)
    RETURNING created_at
)
SELECT (SELECT status FROM current) AS status, EXISTS (SELECT FROM handled) AS handled,
    (SELECT created_at FROM settled) AS created_at
"""  # noqa: S608


def payment_result_handler(inbox: Inbox) -> MessageHandler:
    """The consumer's handler: poison goes to the DLQ before `PaymentResultHandler` sees it."""
    return event_handler(decode_payment_result, PaymentResultHandler(inbox))


class PaymentResultHandler:
    """Settles orders from `orderflow.payment.succeeded.v1` and `.failed.v1` events."""

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._postgres = inbox.engine.dialect.name == "postgresql"

    async def __call__(self, event: PaymentResult, message: ReceivedMessage) -> None:
        async def settle(conn: AsyncConnection) -> Settled | None:
            return await self._settle(conn, event)

        order_id = str(event.data.order_id)
        bind_log_context(order_id=order_id, event_id=str(event.id))
        with traced("order status update", attributes={"orderflow.order.id": order_id}):
            if self._postgres:
                settled = await self._settle_in_one_statement(event)
            else:
                settled = await self._inbox.handle_once(str(event.id), settle)
        if settled is not None:  # counted once committed: a rolled-back settlement is no metric
            metrics.order_settled(*settled)

    async def _settle_in_one_statement(self, event: PaymentResult) -> Settled | None:
        order_id = event.data.order_id
        status, reason = _outcome(event)
        async with driver_connection(self._inbox.engine) as driver:
            row = await driver.fetchrow(
                _SETTLE,
                self._inbox.consumer,
                str(event.id),
                str(order_id),
                status.value,
                reason,
                utcnow(),
                OrderStatus.PENDING.value,
            )
        if row["status"] is None:
            raise PoisonMessage("unknown_order", f"no order {order_id}")
        if not row["handled"]:
            return None  # handled before
        if row["created_at"] is not None:
            logger.info("order %s %s%s", order_id, status, f" ({reason})" if reason else "")
            return status, row["created_at"]
        if row["status"] != status.value:
            logger.warning(
                "order %s is %s; ignoring a later %s result", order_id, row["status"], status
            )
        return None

    async def _settle(self, conn: AsyncConnection, event: PaymentResult) -> Settled | None:
        """Settle the order; return its new status and creation time, or None if it was not
        pending."""
        order_id = event.data.order_id
        status, reason = _outcome(event)
        created_at = await repo.settle_order(conn, order_id, status, reason, utcnow())
        if created_at is not None:
            logger.info("order %s %s%s", order_id, status, f" ({reason})" if reason else "")
            return status, created_at
        order = await repo.get_order(conn, order_id)
        if order is None:
            # Rolls the inbox row back with it; the DLQ keeps the message for a person to look at.
            raise PoisonMessage("unknown_order", f"no order {order_id}")
        if order.status is not status:
            logger.warning(
                "order %s is %s; ignoring a later %s result", order_id, order.status, status
            )
        return None


def _outcome(event: PaymentResult) -> tuple[OrderStatus, str | None]:
    """The order's final status, and why when it failed."""
    if isinstance(event, PaymentFailed):
        return OrderStatus.PAYMENT_FAILED, event.data.reason
    return OrderStatus.PAID, None
