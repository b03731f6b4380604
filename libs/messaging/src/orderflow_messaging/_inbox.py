"""The inbox: one row per handled event, written in the handler's own transaction.

A redelivered message finds its row and changes nothing; handlers never see de-duplication.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderflow_messaging._sql import UtcDateTime, utcnow

T = TypeVar("T")


def inbox_table(metadata: MetaData, name: str = "inbox") -> Table:
    """Declare the inbox table on a service's metadata (its migrations create it)."""
    return Table(
        name,
        metadata,
        Column("consumer", String(80), primary_key=True),
        Column("message_id", String(64), primary_key=True),
        Column("processed_at", UtcDateTime(), nullable=False),
    )


async def record_once(conn: AsyncConnection, table: Table, consumer: str, message_id: str) -> bool:
    """Insert the (consumer, message id) row; False when it was already there."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(consumer=consumer, message_id=message_id, processed_at=utcnow())
        .on_conflict_do_nothing(index_elements=["consumer", "message_id"])
    )
    result = await conn.execute(stmt)
    return result.rowcount == 1


class Inbox:
    """Runs a handler at most once per message id, in one transaction with its inbox row."""

    def __init__(self, engine: AsyncEngine, table: Table, consumer: str) -> None:
        self._engine = engine
        self._table = table
        self._consumer = consumer

    @property
    def engine(self) -> AsyncEngine:
        """The database the inbox is in."""
        return self._engine

    @property
    def table(self) -> Table:
        """The inbox table."""
        return self._table

    @property
    def consumer(self) -> str:
        """The consumer name its rows are recorded under."""
        return self._consumer

    async def handle_once(
        self, message_id: str, effect: Callable[[AsyncConnection], Awaitable[T]]
    ) -> T | None:
        """Run `effect` in a transaction unless `message_id` was handled; None if it was."""
        async with self._engine.begin() as conn:
            if not await record_once(conn, self._table, self._consumer, message_id):
                return None
            return await effect(conn)

    async def seen(self, message_id: str) -> bool:
        """Whether `message_id` was handled already (a cheap check before costly work)."""
        async with self._engine.connect() as conn:
            row = await conn.execute(
                self._table.select().where(
                    self._table.c.consumer == self._consumer,
                    self._table.c.message_id == message_id,
                )
            )
            return row.first() is not None
