"""Running order-service in-process, for tests: the app with its lifespan and an HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from order_service.db.tables import orders, outbox
from order_service.main import create_app
from order_service.settings import Settings
from orderflow_messaging import SqsClientOptions
from orderflow_servicekit import ServiceRuntime


@dataclass
class RunningOrderService:
    app: FastAPI
    http: httpx.AsyncClient
    settings: Settings

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    @property
    def engine(self) -> AsyncEngine:
        return self.runtime.engine

    async def row_counts(self) -> tuple[int, int]:
        """(orders, outbox rows): what a request wrote."""
        async with self.engine.connect() as conn:
            n_orders = (await conn.execute(select(func.count()).select_from(orders))).scalar_one()
            n_outbox = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
        return int(n_orders), int(n_outbox)


def order_settings(
    database_url: str, sqs: SqsClientOptions, prefix: str, **overrides: Any
) -> Settings:
    """Settings for a test on its own queues; `overrides` (field name → value) win."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "sqs_endpoint": sqs.endpoint_url,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
        "orders_queue": f"{prefix}orders",
        "payment_results_queue": f"{prefix}payment-results",
        "relay_poll_interval_s": 0.2,
        "shutdown_grace_s": 2,
    }
    return Settings(_env_file=None, **(values | overrides))


@contextlib.asynccontextmanager
async def running_order_service(settings: Settings) -> AsyncIterator[RunningOrderService]:
    """Start the app's lifespan (migrations, queues, relay, consumer) and an in-process client."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield RunningOrderService(app=app, http=http, settings=settings)
