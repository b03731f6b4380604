"""create_engine: SQLite in WAL with BEGIN IMMEDIATE, so concurrent writers wait, never fail;
PostgreSQL connections pinged only after being idle, and a dropped pool costs one failure."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderflow_servicekit import db
from orderflow_servicekit.db import create_engine, driver_connection, redact
from orderflow_servicekit.failures import dependency_unavailable
from orderflow_testkit.waiting import wait_for_value


async def test_sqlite_engines_use_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'wal.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 30_000
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
        assert (tmp_path / "nested" / "wal.db").exists()  # the folder was created
    finally:
        await engine.dispose()


async def test_two_concurrent_read_then_write_transactions_both_commit_without_lost_updates(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'concurrent.db'}"
    engine = create_engine(url)
    other = create_engine(url)  # a second process, as far as SQLite can tell
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))
        both_reading = asyncio.Barrier(2)

        async def increment(on: AsyncEngine) -> None:
            async with on.begin() as conn:
                n = (await conn.execute(text("SELECT n FROM counter"))).scalar_one()
                # Without BEGIN IMMEDIATE both would now hold read snapshots and one would fail
                # with "database is locked" on its write; with it the second waits to begin.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(both_reading.wait(), 0.3)
                await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(increment(engine), increment(other))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar_one() == 2
    finally:
        await engine.dispose()
        await other.dispose()


def test_redact_hides_the_password() -> None:
    redacted = redact("postgresql+asyncpg://orders:hunter2@db:5432/orders")
    assert "hunter2" not in redacted
    assert redacted == "postgresql+asyncpg://orders:***@db:5432/orders"


async def test_postgresql_and_sqlite_engines_answer(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def _drop_connections_to(database_url: str) -> None:
    """What a PostgreSQL restart does to a service's pool: every backend of the database ends."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn, timeout=5)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

        async def backends() -> int:
            count: int = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return count

        await wait_for_value(backends, lambda n: n == 0, timeout_s=10, what="no backends")
    finally:
        await admin.close()


async def _select_one(engine: AsyncEngine) -> str:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return "unavailable" if dependency_unavailable(exc) else repr(exc)
    return "ok"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_idle_connection_the_server_dropped_is_pinged_and_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", 0.0)  # every pooled connection counts as idle
    engine = create_engine(database_url, pool_size=2)
    try:
        assert await _select_one(engine) == "ok"
        await _drop_connections_to(database_url)
        assert [await _select_one(engine) for _ in range(3)] == ["ok"] * 3
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_connection_used_moments_ago_is_not_pinged_and_one_failure_drops_the_pool(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", 3600.0)  # nothing counts as idle
    engine = create_engine(database_url, pool_size=4)
    try:
        # Several pooled connections, so that a dead one left in the pool would show.
        await asyncio.gather(*(_select_one(engine) for _ in range(4)))
        await _drop_connections_to(database_url)
        outcomes = [await _select_one(engine) for _ in range(4)]
        assert outcomes == ["unavailable", "ok", "ok", "ok"]
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_driver_statement_on_a_dropped_connection_drops_the_pool(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", 3600.0)
    engine = create_engine(database_url, pool_size=4)

    async def driver_select() -> str:
        try:
            async with driver_connection(engine) as driver:
                await driver.fetchval("SELECT 1")
        except Exception as exc:
            return "unavailable" if dependency_unavailable(exc) else repr(exc)
        return "ok"

    try:
        await asyncio.gather(*(driver_select() for _ in range(4)))
        await _drop_connections_to(database_url)
        assert [await driver_select() for _ in range(4)] == ["unavailable", "ok", "ok", "ok"]
    finally:
        await engine.dispose()
