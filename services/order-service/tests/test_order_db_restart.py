"""PostgreSQL dropping the service's connections (a restart, a failover) costs at most one
failed request: the service then answers as before."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from order_service.db.orders import Order
from order_service.db.placing_postgres import insert_order_with_event
from order_service.db.tables import metadata
from order_service.domain import OrderStatus
from order_service.testing import order_settings, running_order_service
from orderflow_contracts import uuid7
from orderflow_messaging import OutgoingMessage, SqsClientOptions, utcnow
from orderflow_servicekit.failures import dependency_unavailable
from orderflow_testkit.waiting import wait_for_value

pytestmark = pytest.mark.postgres


async def _backends_of(database_url: str) -> int:
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn, timeout=5)
    try:
        count: int = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    return count


async def _drop_connections_to(database_url: str) -> int:
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn, timeout=5)
    try:
        dropped: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    return dropped


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_orders_are_accepted_again_right_after_postgresql_drops_every_connection(
    database_url: str, sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    settings = order_settings(database_url, sqs_options, queue_prefix)
    async with running_order_service(settings) as service:
        # Several pooled connections, so that a dead one left in the pool would show.
        warm = await asyncio.gather(
            *(service.http.post("/orders", json={"userId": "u", "total": 1}) for _ in range(8))
        )
        assert {r.status_code for r in warm} == {201}
        assert await _drop_connections_to(database_url) >= 2

        statuses = []
        for i in range(10):
            reply = await service.http.post("/orders", json={"userId": "u", "total": i + 1})
            statuses.append(reply.status_code)
            if reply.status_code != 201:
                assert reply.status_code == 503
                assert reply.headers["content-type"] == "application/problem+json"

        assert statuses.count(503) <= 1, statuses
        assert statuses[1:] == [201] * 9
        orders, outbox_rows = await service.row_counts()
        assert orders == outbox_rows == 8 + statuses.count(201)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_one_statement_path_drops_connections_a_restart_killed(
    database_url: str,
) -> None:
    # Without pre-ping, and without a relay beside it that would make SQLAlchemy notice the
    # restart first: only the hot path's own error handling can keep dead connections out.
    engine = create_async_engine(database_url, pool_size=4, pool_pre_ping=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await asyncio.gather(*(_place(engine) for _ in range(4)))
        assert await _drop_connections_to(database_url) == 4
        # The restart is over (the backends are gone) before the next request, as when a
        # failover happened while the service was idle.
        await wait_for_value(
            lambda: _backends_of(database_url), lambda n: n == 0, timeout_s=10, what="no backends"
        )

        outcomes = []
        for _ in range(4):
            try:
                await _place(engine)
                outcomes.append("stored")
            except Exception as exc:
                outcomes.append("unavailable" if dependency_unavailable(exc) else repr(exc))
        assert outcomes == ["unavailable", "stored", "stored", "stored"]
    finally:
        await engine.dispose()


async def _place(engine: AsyncEngine) -> None:
    now = utcnow()
    order = Order(
        id=uuid7(),
        user_id="u",
        total=Decimal("1.00"),
        currency="USD",
        status=OrderStatus.PENDING,
        failure_reason=None,
        created_at=now,
        updated_at=now,
    )
    message = OutgoingMessage(id=str(uuid7()), body="{}", attributes={})
    stored = await insert_order_with_event(
        engine, order, message, queue="q", idempotency_key=None, fingerprint="f", at=now
    )
    assert stored
