"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from order_service.db.tables import metadata
from order_service.migrate import MIGRATIONS
from orderflow_servicekit.db import create_engine
from orderflow_servicekit.migrations import upgrade_async


async def test_migrations_create_the_declared_schema_and_run_twice(database_url: str) -> None:
    await upgrade_async(MIGRATIONS, database_url)
    await upgrade_async(MIGRATIONS, database_url)  # idempotent: a restart migrates again

    def diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        return list(compare_metadata(context, metadata))

    def tables(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
            assert {"orders", "idempotency_keys", "outbox", "inbox"} <= await conn.run_sync(tables)
    finally:
        await engine.dispose()
