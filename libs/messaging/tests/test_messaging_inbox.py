"""The inbox: an effect runs once per message id, in one transaction with its inbox row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderflow_messaging import Inbox, inbox_table
from orderflow_servicekit.db import create_engine


@dataclass
class Store:
    engine: AsyncEngine
    inbox: Table
    effects: Table

    async def count(self, table: Table) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    metadata = MetaData()
    inbox = inbox_table(metadata)
    effects = Table(
        "effects",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("message_id", String(64), nullable=False),
    )
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield Store(engine, inbox, effects)
    finally:
        await engine.dispose()


async def test_handle_once_runs_the_effect_once_for_the_same_message_id(store: Store) -> None:
    inbox = Inbox(store.engine, store.inbox, "payments")
    calls: list[str] = []

    async def effect(conn: AsyncConnection) -> str:
        calls.append("m1")
        await conn.execute(store.effects.insert().values(message_id="m1"))
        return "done"

    assert not await inbox.seen("m1")
    assert await inbox.handle_once("m1", effect) == "done"
    assert await inbox.handle_once("m1", effect) is None
    assert calls == ["m1"]
    assert await inbox.seen("m1")
    assert await store.count(store.effects) == 1
    assert await store.count(store.inbox) == 1


async def test_the_same_message_id_counts_separately_per_consumer(store: Store) -> None:
    calls: list[str] = []

    async def effect(conn: AsyncConnection) -> None:
        calls.append("m1")

    await Inbox(store.engine, store.inbox, "payments").handle_once("m1", effect)
    await Inbox(store.engine, store.inbox, "notifications").handle_once("m1", effect)
    assert calls == ["m1", "m1"]


async def test_a_failing_effect_rolls_back_its_writes_with_the_inbox_row(store: Store) -> None:
    inbox = Inbox(store.engine, store.inbox, "payments")

    async def failing(conn: AsyncConnection) -> None:
        await conn.execute(store.effects.insert().values(message_id="m1"))
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError, match="provider down"):
        await inbox.handle_once("m1", failing)
    assert await store.count(store.effects) == 0
    assert await store.count(store.inbox) == 0
    assert not await inbox.seen("m1")

    # The redelivered message is handled for real this time.
    async def working(conn: AsyncConnection) -> str:
        await conn.execute(store.effects.insert().values(message_id="m1"))
        return "ok"

    assert await inbox.handle_once("m1", working) == "ok"
    assert await store.count(store.effects) == 1


async def test_concurrent_deliveries_of_one_message_run_the_effect_once(store: Store) -> None:
    inbox = Inbox(store.engine, store.inbox, "payments")
    calls: list[str] = []

    async def effect(conn: AsyncConnection) -> str:
        calls.append("m1")
        await conn.execute(store.effects.insert().values(message_id="m1"))
        await asyncio.sleep(0.01)  # hold the transaction open while the others arrive
        return "done"

    results = await asyncio.gather(*(inbox.handle_once("m1", effect) for _ in range(5)))
    assert results.count("done") == 1
    assert results.count(None) == 4
    assert calls == ["m1"]
    assert await store.count(store.effects) == 1
