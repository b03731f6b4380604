"""Placing an order: the order row, its OrderCreated event in the outbox and the idempotency key,
all in one transaction. The HTTP request never waits on SQS."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from order_service.db import orders as repo
from order_service.db.placing_postgres import insert_order_with_event
from order_service.db.tables import outbox
from order_service.domain import OrderStatus
from order_service.events import order_created_message
from orderflow_contracts import uuid7
from orderflow_messaging import Notifier, add_to_outbox, utcnow
from orderflow_servicekit import bind_log_context


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    user_id: str
    total: Decimal
    currency: str
    idempotency_key: str | None
    traceparent: str


class IdempotencyKeyReused(Exception):
    """The key was used before with a different request body."""


def request_fingerprint(command: PlaceOrder) -> str:
    canonical = f"{command.user_id}\x1f{command.total:.2f}\x1f{command.currency}"
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _replay(conn: AsyncConnection, key: str, fingerprint: str) -> repo.Order | None:
    record = await repo.find_idempotency_key(conn, key)
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(key)
    return await repo.get_order(conn, record.order_id)


async def place_order(
    engine: AsyncEngine, command: PlaceOrder, *, queue: str, relay: Notifier
) -> tuple[repo.Order, bool]:
    """Store the order and its event, then wake `relay` (as every use case that queues an event
    does after its commit); return the order and whether it replays an earlier request."""
    order, replayed = await _store(engine, command, queue)
    if not replayed:
        relay.notify()
    return order, replayed


async def _store(engine: AsyncEngine, command: PlaceOrder, queue: str) -> tuple[repo.Order, bool]:
    fingerprint = request_fingerprint(command)
    if engine.dialect.name == "postgresql":
        return await _place_in_one_statement(engine, command, fingerprint, queue)
    try:
        async with engine.begin() as conn:
            if command.idempotency_key is not None:
                earlier = await _replay(conn, command.idempotency_key, fingerprint)
                if earlier is not None:
                    return earlier, True
            order = _new_order(command)
            await repo.insert_order(conn, order)
            message = order_created_message(order, command.traceparent)
            bind_log_context(order_id=str(order.id), event_id=message.id)
            await add_to_outbox(conn, outbox, queue, [message])
            if command.idempotency_key is not None:
                await repo.insert_idempotency_key(
                    conn, command.idempotency_key, fingerprint, order.id, order.created_at
                )
            return order, False
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as its replay.
        if command.idempotency_key is None:
            raise
        return await _earlier(engine, command.idempotency_key, fingerprint), True


def _new_order(command: PlaceOrder) -> repo.Order:
    now = utcnow()
    return repo.Order(
        id=uuid7(),
        user_id=command.user_id,
        total=command.total,
        currency=command.currency,
        status=OrderStatus.PENDING,
        failure_reason=None,
        created_at=now,
        updated_at=now,
    )


async def _earlier(engine: AsyncEngine, key: str, fingerprint: str) -> repo.Order:
    """The order an earlier request with `key` placed (it committed, or its insert would not
    have conflicted)."""
    async with engine.connect() as conn:
        earlier = await _replay(conn, key, fingerprint)
    if earlier is None:
        raise RuntimeError(f"Idempotency-Key {key!r} conflicted, yet no order has it")
    return earlier


async def _place_in_one_statement(
    engine: AsyncEngine, command: PlaceOrder, fingerprint: str, queue: str
) -> tuple[repo.Order, bool]:
    """PostgreSQL: the order, its event and its key in one round trip; a key used before is
    looked up only then (the rare case)."""
    order = _new_order(command)
    message = order_created_message(order, command.traceparent)
    bind_log_context(order_id=str(order.id), event_id=message.id)
    stored = await insert_order_with_event(
        engine,
        order,
        message,
        queue=queue,
        idempotency_key=command.idempotency_key,
        fingerprint=fingerprint,
        at=order.created_at,
    )
    if stored:
        return order, False
    if command.idempotency_key is None:
        raise RuntimeError("an order without an Idempotency-Key was not stored")
    return await _earlier(engine, command.idempotency_key, fingerprint), True
