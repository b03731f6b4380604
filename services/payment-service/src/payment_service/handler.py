"""The OrderCreated handler: charge once, record one payment, publish its result.

Per message:
1. decoded before the handler (`order_created_handler`): a body that can never be an
   OrderCreated event raises `PoisonMessage` (DLQ at once);
2. an event already in the inbox is done (the message is deleted);
3. charge the provider outside any transaction, idempotency key = order id (a slow provider
   never holds a database connection or lock); `ProviderUnavailable` propagates: retry later;
4. one transaction: inbox row + payment (ON CONFLICT (order_id) DO NOTHING) + result event in
   the outbox, the last only when the payment row is new. A crash after the charge and before the
   commit redelivers the event; the provider's idempotency key turns the second charge into a
   replay of the first. On PostgreSQL steps 2 and 4 are one statement each, without BEGIN and
   COMMIT (`db/paying_postgres.py`); elsewhere they go through the inbox's transaction.
5. after the commit, wake the outbox relay.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderflow_contracts import (
    OrderCreated,
    PaymentFailed,
    PaymentFailedData,
    PaymentSucceeded,
    PaymentSucceededData,
    decode_order_created,
    encode_event,
    uuid7,
)
from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    TRACEPARENT_ATTRIBUTE,
    Inbox,
    MessageHandler,
    Notifier,
    OutgoingMessage,
    ReceivedMessage,
    add_to_outbox,
    current_traceparent,
    utcnow,
)
from orderflow_servicekit import bind_log_context, event_handler, traced
from payment_service import metrics
from payment_service.db.paying_postgres import Recorded, already_handled, record_payment
from payment_service.db.payments import Payment, insert_payment
from payment_service.db.tables import FAILED, SUCCEEDED
from payment_service.provider import ChargeRequest, PaymentProvider

logger = logging.getLogger("payment_service.handler")

_MAX_REASON = 64  # the contract's limit on PaymentFailed.reason
_DECLINED = "declined"


class Outcome(StrEnum):
    """What handling one message came to."""

    PAID = "paid"
    """A new payment (succeeded or failed) was recorded and its result queued."""
    ALREADY_PAID = "already_paid"
    """A new event for an order that already has a payment: recorded in the inbox, no effect."""
    DUPLICATE = "duplicate"
    """An event handled before: nothing done."""


class OrderCreatedHandler:
    """Handles `orderflow.order.created.v1` messages; an instance is a consumer `MessageHandler`.

    engine: payment-service's database. provider: who charges. inbox: de-duplicates event ids.
    outbox: the outbox table. relay: woken after each commit that queued a result.
    source: the CloudEvents `source` of the result events. results_queue: the payment-results
    queue's name (the outbox row's destination).
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        provider: PaymentProvider,
        inbox: Inbox,
        outbox: Table,
        relay: Notifier,
        source: str,
        results_queue: str,
    ) -> None:
        self._engine = engine
        self._provider = provider
        self._inbox = inbox
        self._outbox = outbox
        self._relay = relay
        self._source = source
        self._results_queue = results_queue
        self._postgres = engine.dialect.name == "postgresql"

    async def __call__(self, event: OrderCreated, message: ReceivedMessage) -> None:
        # Retries and dead letters are counted by the runtime's handler middleware.
        outcome = await self.handle_event(event, message)
        metrics.PAYMENT_EVENTS.labels(outcome.value).inc()

    async def handle_event(self, event: OrderCreated, message: ReceivedMessage) -> Outcome:
        event_id = str(event.id)
        order_id = str(event.data.order_id)
        bind_log_context(order_id=order_id, event_id=event_id)
        if await self._seen(event_id):
            return Outcome.DUPLICATE
        with traced(
            "payment provider charge", client=True, attributes={"orderflow.order.id": order_id}
        ) as span:
            charge = await self._provider.charge(
                ChargeRequest(
                    order_id=order_id,
                    amount=event.data.total,
                    currency=event.data.currency,
                    idempotency_key=order_id,
                )
            )
            span.set_attribute("orderflow.payment.approved", charge.approved)
        payment_id = uuid7()
        payment = Payment(
            id=str(payment_id),
            order_id=order_id,
            amount=event.data.total,
            currency=event.data.currency,
            status=SUCCEEDED if charge.approved else FAILED,
            reason=None if charge.approved else (charge.reason or _DECLINED),
            provider_reference=charge.reference,
            created_at=utcnow(),
        )
        result = self._result_message(event, payment_id, payment, message)
        recorded = await self._record(event_id, payment, result)
        if recorded is Recorded.NOTHING:
            return Outcome.DUPLICATE  # a concurrent delivery of the same event won the race
        if recorded is Recorded.INBOX_ONLY:
            logger.info(
                "order %s already has a payment; event %s changes nothing", order_id, event_id
            )
            return Outcome.ALREADY_PAID
        self._relay.notify()
        metrics.PAYMENTS.labels(status=payment.status).inc()
        logger.info("order %s: payment %s %s", order_id, payment.id, payment.status)
        return Outcome.PAID

    async def _seen(self, event_id: str) -> bool:
        if self._postgres:
            return await already_handled(self._engine, self._inbox.consumer, event_id)
        return await self._inbox.seen(event_id)

    async def _record(self, event_id: str, payment: Payment, result: OutgoingMessage) -> Recorded:
        """Inbox row, payment and result event, each only as far as the one before is new."""
        if self._postgres:
            return await record_payment(
                self._engine,
                consumer=self._inbox.consumer,
                event_id=event_id,
                payment=payment,
                queue=self._results_queue,
                message=result,
                at=utcnow(),
            )

        async def effect(conn: AsyncConnection) -> Recorded:
            if not await insert_payment(conn, payment):
                return Recorded.INBOX_ONLY
            await add_to_outbox(conn, self._outbox, self._results_queue, [result])
            return Recorded.PAYMENT

        recorded = await self._inbox.handle_once(event_id, effect)
        return Recorded.NOTHING if recorded is None else recorded

    def _result_message(
        self, event: OrderCreated, payment_id: UUID, payment: Payment, message: ReceivedMessage
    ) -> OutgoingMessage:
        # The consumer span's context while tracing is on (so the result's publish is its child);
        # without an SDK that is the received traceparent itself.
        traceparent = (
            current_traceparent()
            or message.attributes.get(TRACEPARENT_ATTRIBUTE)
            or event.traceparent
        )
        result: PaymentSucceeded | PaymentFailed
        if payment.status == SUCCEEDED:
            result = PaymentSucceeded(
                source=self._source,
                traceparent=traceparent,
                data=PaymentSucceededData(
                    order_id=event.data.order_id,
                    payment_id=payment_id,
                    amount=payment.amount,
                    currency=payment.currency,
                    processed_at=payment.created_at,
                ),
            )
        else:
            result = PaymentFailed(
                source=self._source,
                traceparent=traceparent,
                data=PaymentFailedData(
                    order_id=event.data.order_id,
                    payment_id=payment_id,
                    amount=payment.amount,
                    currency=payment.currency,
                    reason=(payment.reason or _DECLINED)[:_MAX_REASON],
                    processed_at=payment.created_at,
                ),
            )
        attributes: dict[str, str] = {EVENT_TYPE_ATTRIBUTE: result.type}
        if traceparent:
            attributes[TRACEPARENT_ATTRIBUTE] = traceparent
        return OutgoingMessage(id=str(result.id), body=encode_event(result), attributes=attributes)


def order_created_handler(handler: OrderCreatedHandler) -> MessageHandler:
    """The consumer's handler: poison goes to the DLQ before `handler` sees it."""
    return event_handler(decode_order_created, handler)
