"""`orderflow up` on PostgreSQL: ORDER_DATABASE_URL / PAYMENT_DATABASE_URL replace SQLite."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest

from orderflow_testkit.databases import postgres_database
from orderflow_testkit.waiting import wait_for_value

if TYPE_CHECKING:
    from tests.conftest import StartSystem

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture
async def postgres_urls(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    """Two empty databases: one per service."""
    request.getfixturevalue("_postgres_checked")  # skip, or fail under CI=true, without PG
    async with postgres_database() as orders, postgres_database() as payments:
        yield orders, payments


def plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def test_up_with_postgresql_urls_keeps_every_row_in_postgresql(
    postgres_urls: tuple[str, str], start_orderflow: StartSystem
) -> None:
    orders_url, payments_url = postgres_urls
    # The plain scheme, as a user would write it: the CLI adds the async driver.
    system = start_orderflow(
        {
            "ORDER_DATABASE_URL": plain_dsn(orders_url),
            "PAYMENT_DATABASE_URL": plain_dsn(payments_url),
        }
    )
    try:
        async with httpx.AsyncClient(base_url=system.order_url, timeout=10) as api:
            created = await api.post("/orders", json={"userId": "pg-user", "total": "42.00"})
            assert created.status_code == 201, created.text

            async def status() -> str:
                return str((await api.get(f"/orders/{created.json()['id']}")).json()["status"])

            await wait_for_value(status, lambda s: s == "paid", timeout_s=5, what="paid")
    finally:
        code = system.stop(signal.SIGINT)
    system.assert_stopped_cleanly(code)

    orders = await asyncpg.connect(plain_dsn(orders_url))
    payments = await asyncpg.connect(plain_dsn(payments_url))
    try:
        assert (
            await orders.fetchval("SELECT status FROM orders WHERE user_id = 'pg-user'") == "paid"
        )
        assert await payments.fetchval("SELECT count(*) FROM payments") == 1
    finally:
        await orders.close()
        await payments.close()
    assert not (system.data_dir / "order-service.db").exists()
    assert not (system.data_dir / "payment-service.db").exists()
