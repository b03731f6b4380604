"""Running a service's Alembic migrations, from the CLI or at start-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from orderflow_servicekit.db import create_engine


def alembic_config(script_location: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(script_location: Path, database_url: str) -> None:
    """Bring the database at `database_url` to the newest revision (blocking; not in a loop)."""
    command.upgrade(alembic_config(script_location, database_url), "head")


async def upgrade_async(script_location: Path, database_url: str) -> None:
    """`upgrade` from async code: Alembic runs its own event loop, so it gets a thread."""
    await asyncio.to_thread(upgrade, script_location, database_url)


def run_env(metadata: MetaData) -> None:
    """The body of every service's `env.py`: online migrations over the async engine."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None  # noqa: S101 — narrowing: upgrade() always sets the URL

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(main())
