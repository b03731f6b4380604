"""Database engines: PostgreSQL (asyncpg) or SQLite (aiosqlite), tuned the same way for both."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from orderflow_servicekit.failures import dependency_unavailable


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """An async engine for `url`.

    PostgreSQL: a pooled connection idle for `IDLE_PING_S` or more is pinged before use (a
    restart or failover while the service was idle then costs no request); one in use moments
    ago is not, which saves the ping's three round trips (BEGIN, a statement, ROLLBACK) on every
    checkout under load. A connection that dies anyway fails its statement, and SQLAlchemy then
    drops every pooled connection as old as it. LIFO keeps the connections in use few and warm.

    SQLite gets WAL (readers never block the writer), a 30 s busy timeout and `BEGIN IMMEDIATE`
    transactions: a transaction that reads and then writes would otherwise fail at once with
    "database is locked" instead of waiting its turn.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_use_lifo=True
        )
        _ping_when_idle(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


IDLE_PING_S: Final = 1.0
"""A pooled PostgreSQL connection idle this long is pinged before it is handed out."""

_CHECKED_IN_AT: Final = "orderflow_checked_in_at"


def _ping_when_idle(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # `record.info` lives as long as the DBAPI connection: a new one starts unpinged.
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_S:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool reconnects this one and drops the others as old: the same restart most
            # likely closed them too.
            raise exc.DisconnectionError(f"idle connection failed its ping: {error}") from error


@contextlib.asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled PostgreSQL connection's asyncpg connection, for one-statement hot paths.

    No SQLAlchemy transaction is begun: one statement is its own transaction, without BEGIN and
    COMMIT round trips. The driver raises past SQLAlchemy, which then cannot do what it does on
    a disconnect, so this does it: a failure that means the connection is gone drops it and the
    pool's other connections (most likely cut by the same restart), else each would fail one
    more operation.
    """
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        try:
            yield driver
        except Exception as exc:
            # A connection the server closed just as a statement went out can fail with a
            # protocol error instead of a connection error; it is closed all the same.
            if dependency_unavailable(exc) or driver.is_closed():
                await conn.invalidate()
                await engine.dispose(close=False)
            raise


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    return make_url(url).render_as_string(hide_password=True)
