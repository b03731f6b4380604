"""order-service's tables: orders, idempotency keys, and its outbox and inbox."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table

from orderflow_messaging import UtcDateTime, inbox_table, outbox_table
from orderflow_servicekit import Amount

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("total", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("failure_reason", String(64), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
# Listing is newest first by id (time-ordered), filtered by user or by status.
Index("ix_orders_user_id_id", orders.c.user_id, orders.c.id)
Index("ix_orders_status_id", orders.c.status, orders.c.id)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("order_id", String(36), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
