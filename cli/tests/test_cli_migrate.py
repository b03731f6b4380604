"""`orderflow migrate` on real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from orderflow_cli.main import main
from orderflow_servicekit.db import create_engine

ORDER_TABLES = {"orders", "idempotency_keys", "outbox", "inbox", "alembic_version"}
PAYMENT_TABLES = {"payments", "outbox", "inbox", "alembic_version"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "ORDER_DATABASE_URL", "PAYMENT_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    code = exited.value.code
    assert isinstance(code, int)
    return code


async def table_names(url: str) -> set[str]:
    def names(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(names)
    finally:
        await engine.dispose()


def sqlite_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite+aiosqlite:///"))


@pytest.mark.parametrize(
    ("service", "tables"),
    [("order-service", ORDER_TABLES), ("payment-service", PAYMENT_TABLES)],
)
async def test_migrate_one_service_creates_its_tables_in_database_url(
    service: str,
    tables: set[str],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)

    # Alembic runs an event loop of its own: the command gets a thread, as in a terminal.
    assert await asyncio.to_thread(exit_code, ["migrate", "--service", service]) == 0

    assert tables <= await table_names(database_url)
    assert capsys.readouterr().out.startswith(f"{service}: ")


async def test_migrate_all_uses_each_services_url_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = f"sqlite+aiosqlite:///{tmp_path / 'o.db'}"
    payments = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    monkeypatch.setenv("ORDER_DATABASE_URL", orders)
    monkeypatch.setenv("PAYMENT_DATABASE_URL", payments)

    assert await asyncio.to_thread(exit_code, ["migrate"]) == 0
    assert await asyncio.to_thread(exit_code, ["migrate", "--service", "all"]) == 0

    assert await table_names(orders) >= ORDER_TABLES
    assert await table_names(payments) >= PAYMENT_TABLES
    assert "payments" not in await table_names(orders)


def test_migrate_without_urls_creates_the_sqlite_defaults_under_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")

    assert exit_code(["migrate"]) == 0

    assert (tmp_path / "data" / "order-service.db").exists()
    assert (tmp_path / "data" / "payment-service.db").exists()
    assert not (tmp_path / "shared.db").exists()
    assert "DATABASE_URL is ignored when migrating both services" in capsys.readouterr().err


def test_a_url_no_service_accepts_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORDER_DATABASE_URL", "mysql://root:hunter2@127.0.0.1/orders")

    assert exit_code(["migrate", "--service", "order-service"]) == 1

    err = capsys.readouterr().err
    assert err.startswith(
        "orderflow: error: order-service: invalid settings: "
        "DATABASE_URL mysql://root:***@127.0.0.1/orders: Value error, "
        "DATABASE_URL must be a postgresql:// or sqlite:/// URL"
    )
    assert err.count("\n") == 1
    assert "hunter2" not in err


def test_an_unreachable_database_fails_with_exit_1_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYMENT_DATABASE_URL", "postgresql://app:hunter2@127.0.0.1:1/payments")

    assert exit_code(["migrate", "--service", "payment-service"]) == 1

    err = capsys.readouterr().err
    assert err.startswith(
        "orderflow: error: payment-service: migrating "
        "postgresql+asyncpg://app:***@127.0.0.1:1/payments failed: "
    )
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "hunter2" not in err
