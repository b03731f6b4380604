"""upgrade / upgrade_async / run_env: Alembic migrations over the async engines, both databases."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from orderflow_servicekit.db import create_engine
from orderflow_servicekit.migrations import upgrade_async

ENV_PY = """
from sqlalchemy import MetaData

from orderflow_servicekit.migrations import run_env

run_env(MetaData())
"""

REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("things", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO things (id) VALUES (1)")


def downgrade() -> None:
    op.drop_table("things")
"""


def migrations_folder(root: Path) -> Path:
    folder = root / "migrations"
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(ENV_PY, encoding="utf-8")
    (folder / "versions" / "0001_initial.py").write_text(REVISION, encoding="utf-8")
    return folder


async def test_upgrade_creates_the_schema_commits_it_and_is_idempotent(
    tmp_path: Path, database_url: str
) -> None:
    folder = migrations_folder(tmp_path)
    await upgrade_async(folder, database_url)
    await upgrade_async(folder, database_url)  # already at head: nothing to do, no error

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            assert {"things", "alembic_version"} <= set(tables)
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            assert [tuple(row) for row in version] == [("0001",)]
            assert (await conn.execute(text("SELECT count(*) FROM things"))).scalar_one() == 1
    finally:
        await engine.dispose()
