"""The outbox table: its declaration and the writer that adds rows in the caller's transaction.

Only this module and `_one_statement` name the table's columns; the relay (`_outbox`) reads what
they wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.ext.asyncio import AsyncConnection

from orderflow_messaging._message import OutgoingMessage
from orderflow_messaging._sql import UtcDateTime, utcnow


def outbox_table(metadata: MetaData, name: str = "outbox") -> Table:
    """Declare the outbox table on a service's metadata (its migrations create it)."""
    table = Table(
        name,
        metadata,
        Column("id", String(64), primary_key=True),
        Column("queue", String(80), nullable=False),
        Column("body", Text, nullable=False),
        Column("attributes", Text, nullable=False),
        Column("group_id", String(128), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("available_at", UtcDateTime(), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
        Column("published_at", UtcDateTime(), nullable=True),
    )
    # Only unpublished rows are ever scanned, so the index holds only them.
    Index(
        f"ix_{name}_due",
        table.c.available_at,
        postgresql_where=table.c.published_at.is_(None),
        sqlite_where=table.c.published_at.is_(None),
    )
    return table


async def add_to_outbox(
    conn: AsyncConnection, table: Table, queue: str, messages: Sequence[OutgoingMessage]
) -> None:
    """Add messages for `queue` in the caller's transaction; the caller commits."""
    if not messages:
        # An empty parameter list would make SQLAlchemy run one INSERT of defaults (a NULL id).
        return
    now = utcnow()
    await conn.execute(
        table.insert(),
        [
            {
                "id": m.id,
                "queue": queue,
                "body": m.body,
                "attributes": encode_attributes(m),
                "group_id": m.group_id,
                "created_at": now,
                "available_at": now,
                "attempts": 0,
            }
            for m in messages
        ],
    )


def encode_attributes(message: OutgoingMessage) -> str:
    """A message's attributes as the outbox stores them (a JSON object of strings)."""
    return json.dumps(dict(message.attributes))


def decode_attributes(stored: str) -> Mapping[str, str]:
    """The attributes `encode_attributes` stored."""
    attributes: dict[str, str] = json.loads(stored)
    return attributes
