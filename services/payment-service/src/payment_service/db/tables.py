"""payment-service's tables, declared once: migrations create them, the code queries them.

`payments` holds at most one row per order (the unique order id is the last line of defence
against duplicates); `inbox` de-duplicates events; `outbox` carries payment results to SQS.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import CheckConstraint, Column, MetaData, String, Table, Text

from orderflow_messaging import UtcDateTime, inbox_table, outbox_table
from orderflow_servicekit import Amount

# Named constraints: migrations and the metadata agree on names on every engine.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"

metadata = MetaData(naming_convention=NAMING_CONVENTION)

payments = Table(
    "payments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("order_id", String(36), nullable=False, unique=True),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("provider_reference", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint(f"status IN ('{SUCCEEDED}', '{FAILED}')", name="status"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
