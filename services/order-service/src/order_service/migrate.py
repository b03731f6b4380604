"""order-service's Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from orderflow_servicekit import migrations

MIGRATIONS: Final = Path(__file__).parent / "migrations"


def upgrade(database_url: str) -> None:
    """Bring the database to the newest revision (blocking)."""
    migrations.upgrade(MIGRATIONS, database_url)
