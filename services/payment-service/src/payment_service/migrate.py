"""payment-service's migrations: applied at start-up and by `orderflow migrate`."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from orderflow_servicekit import migrations

MIGRATIONS: Final[Path] = Path(__file__).resolve().parent / "migrations"
"""The Alembic script folder inside the package."""


def upgrade(database_url: str) -> None:
    """Bring the database at `database_url` to the newest revision (blocking: not in a loop)."""
    migrations.upgrade(MIGRATIONS, database_url)


async def upgrade_async(database_url: str) -> None:
    """`upgrade` from async code (Alembic runs its own event loop, so it gets a thread)."""
    await migrations.upgrade_async(MIGRATIONS, database_url)
