"""The migrations create exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateIndex

from orderflow_servicekit.db import create_engine
from payment_service.db.tables import metadata
from payment_service.migrate import MIGRATIONS, upgrade_async


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _normalise(sql: str) -> str:
    return re.sub(r"[\s()]", "", sql).lower()


def _where_clauses(conn: Connection, table: str) -> dict[str, str]:
    """Each reflected index's WHERE clause (partial indexes), normalised."""
    clauses = {}
    for index in inspect(conn).get_indexes(table):
        options = index.get("dialect_options", {})
        where = options.get(f"{conn.dialect.name}_where")
        clauses[str(index["name"])] = _normalise(str(where)) if where is not None else ""
    return clauses


async def _migrated(database_url: str) -> AsyncEngine:
    await upgrade_async(database_url)
    return create_engine(database_url)


def test_the_migrations_folder_holds_the_alembic_environment() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert (MIGRATIONS / "versions" / "0001_initial.py").is_file()


async def test_the_migrated_schema_matches_the_metadata(database_url: str) -> None:
    engine = await _migrated(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()


async def test_the_outbox_due_index_is_partial_as_declared(database_url: str) -> None:
    # Autogenerate does not compare partial-index predicates, so the predicate is checked here.
    engine = await _migrated(database_url)
    try:
        async with engine.connect() as conn:
            reflected = await conn.run_sync(_where_clauses, "outbox")
            dialect = conn.dialect
    finally:
        await engine.dispose()
    declared = {
        str(index.name): _normalise(
            str(CreateIndex(index).compile(dialect=dialect)).split(" WHERE ")[1]
        )
        for index in metadata.tables["outbox"].indexes
    }
    assert declared == {"ix_outbox_due": "published_atisnull"}
    assert reflected == declared


async def test_migrating_twice_changes_nothing(database_url: str) -> None:
    await upgrade_async(database_url)
    engine = await _migrated(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
            constraints = await conn.run_sync(
                lambda c: [u["name"] for u in inspect(c).get_unique_constraints("payments")]
            )
        assert constraints == ["uq_payments_order_id"]
    finally:
        await engine.dispose()
