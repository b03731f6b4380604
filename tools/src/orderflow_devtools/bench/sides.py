"""The two systems under test, started the same way and asked the same question: all settled?

- `SeedSide`: the seed baseline (Node.js order-service + serial consumer). It stores nothing, so
  an order's payment time is when its consumer logs "Processing payment for order ID" (the
  time is put in front of each line by a preloaded `seed_clock.cjs`, measurement only) plus
  PAYMENT_LATENCY_MS (the wait before its deleteMessage);
  all settled = every order's line seen and its queue empty (visible + in flight = 0).
- `OrderflowSide`: order-service and payment-service as processes on fresh PostgreSQL databases;
  an order's payment time is its `updated_at` (set when the payment result moves it to paid),
  all settled = no order of the phase still pending.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from orderflow_cli.errors import CliError
from orderflow_devtools.bench.load import LoadResult
from orderflow_devtools.bench.procs import Proc
from orderflow_messaging import SqsClientOptions, open_sqs_client, queue_depth

# A consumer stopped mid long poll leaves its ReceiveMessage waiting in the engine (neither moto
# nor fauxqs notices the closed connection): the next messages go to it and stay hidden for the
# visibility timeout (30 s). Before a consumer is replaced by another, its polls (20 s at most)
# are waited out.
ORPHANED_POLL_S = 21.0

_PROCESSING = re.compile(r"^@(\d+) Processing payment for order (\S+)")
_CLOCK = Path(__file__).with_name("seed_clock.cjs")
# Settings of the services that must come from the benchmark, never from the developer's shell.
_OWNED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SQS",
    "DATABASE_URL",
    "APPLY_TOPOLOGY",
    "AUTH_MODE",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "PAYMENT_FAILURE_RATE",
    "RELAY_POLL_INTERVAL_S",
)


@dataclass(frozen=True, slots=True)
class Settled:
    """When the last order of a phase was settled (wall clock) and each order's latency."""

    end_at: float
    latencies_ms: list[float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Engine:
    endpoint: str
    region: str = "us-east-1"

    def options(self) -> SqsClientOptions:
        return SqsClientOptions(
            region=self.region,
            endpoint_url=self.endpoint,
            access_key_id="test",
            secret_access_key="test",  # noqa: S106 — local engine, any value
        )

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items() if k not in _OWNED}
        env.update(
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",  # noqa: S106 — local engine
            AWS_REGION=self.region,
            SQS_ENDPOINT=self.endpoint,
        )
        return env

    def queue_url(self, name: str) -> str:
        # fauxqs answers with a host that does not resolve; both engines find queues by name.
        return f"{self.endpoint}/000000000000/{name}"


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class SeedSide:
    name = "seed"

    def __init__(
        self, *, root: Path, node: Path, engine: Engine, port: int, log_dir: Path, tag: str
    ) -> None:
        self.root = root
        self.node = node
        self.engine = engine
        self.port = port
        self.log_dir = log_dir
        self.queue = f"seed-orders-{tag}"
        self.latency_ms = 0
        self.processed: dict[str, float] = {}
        self.api: Proc | None = None
        self.consumer: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/orders"

    def procs(self) -> list[Proc]:
        return [p for p in (self.api, self.consumer) if p is not None]

    def _env(self) -> dict[str, str]:
        env = self.engine.env(os.environ)
        env.update(
            QUEUE_URL=self.engine.queue_url(self.queue),
            HOST="127.0.0.1",
            PORT=str(self.port),
            PAYMENT_LATENCY_MS=str(self.latency_ms),
        )
        return env

    def _on_line(self, at: float, line: str) -> None:
        match = _PROCESSING.match(line)
        if match is not None:
            self.processed[match[2]] = int(match[1]) / 1000

    async def start(self, *, latency_ms: int) -> None:
        self.latency_ms = latency_ms
        if self.api is None:
            async with open_sqs_client(self.engine.options()) as client:
                await client.create_queue(QueueName=self.queue)
            self.api = Proc(
                "seed-order-service",
                [str(self.node), "dist/order-service/server.js"],
                env=self._env(),
                cwd=self.root,
                log_dir=self.log_dir,
            )
            await self.api.start()
            await self.api.wait_http(self.port, "/docs", expect=None, timeout_s=30)
        if self.consumer is not None:
            await self.consumer.stop()
            await asyncio.sleep(ORPHANED_POLL_S)
        self.consumer = Proc(
            f"seed-payment-service-{latency_ms}ms",
            [str(self.node), "-r", str(_CLOCK), "dist/payment-service/consumer.js"],
            env=self._env(),
            cwd=self.root,
            log_dir=self.log_dir,
            on_line=self._on_line,
        )
        await self.consumer.start()

    async def settle(self, load: LoadResult, timeout_s: float) -> Settled:
        ids = {str(o["orderId"]): _iso(str(o["createdAt"])) for o in load.orders}
        deadline = time.monotonic() + timeout_s
        async with open_sqs_client(self.engine.options()) as client:
            url = self.engine.queue_url(self.queue)
            while True:
                if all(i in self.processed for i in ids) and await queue_depth(client, url) == 0:
                    end = time.time()
                    break
                if time.monotonic() > deadline:
                    missing = sum(1 for i in ids if i not in self.processed)
                    raise CliError(f"seed: {missing} orders not settled within {timeout_s:g} s")
                await asyncio.sleep(0.02)
        extra = self.latency_ms / 1000
        latencies = [(self.processed[i] + extra - created) * 1000 for i, created in ids.items()]
        return Settled(end_at=end, latencies_ms=latencies)

    async def stop(self) -> None:
        for proc in (self.consumer, self.api):
            if proc is not None:
                await proc.stop()


class OrderflowSide:
    name = "orderflow"

    def __init__(
        self,
        *,
        engine: Engine,
        order_port: int,
        payment_port: int,
        log_dir: Path,
        tag: str,
        databases: Mapping[str, str],
    ) -> None:
        self.engine = engine
        self.order_port = order_port
        self.payment_port = payment_port
        self.log_dir = log_dir
        self.tag = tag
        self.databases = dict(databases)
        self.order: Proc | None = None
        self.payment: Proc | None = None
        self.retired: list[Proc] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.order_port}/orders"

    def procs(self) -> list[Proc]:
        return [p for p in (self.order, self.payment) if p is not None]

    def _env(self, service: str, port: int, extra: Mapping[str, str]) -> dict[str, str]:
        env = self.engine.env(os.environ)
        env.update(
            HOST="127.0.0.1",
            PORT=str(port),
            DATABASE_URL=self.databases[service],
            ORDERS_QUEUE=f"bench-{self.tag}-orders",
            PAYMENT_RESULTS_QUEUE=f"bench-{self.tag}-payment-results",
            LOG_LEVEL="WARNING",
            LOG_FORMAT="json",
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env

    async def start(self, *, latency_ms: int, consumer_concurrency: int | None = None) -> None:
        extra = {"PAYMENT_LATENCY_MS": str(latency_ms)}
        if consumer_concurrency is not None:
            extra["CONSUMER_CONCURRENCY"] = str(consumer_concurrency)
        if self.order is None:
            self.order = Proc(
                "order-service",
                [sys.executable, "-m", "order_service"],
                env=self._env("orders", self.order_port, {}),
                cwd=self.log_dir,
                log_dir=self.log_dir,
            )
            await self.order.start()
        if self.payment is not None:
            self.payment.sample_rss()
            await self.payment.stop()
            self.retired.append(self.payment)
            await asyncio.sleep(ORPHANED_POLL_S)
        self.payment = Proc(
            f"payment-service-{latency_ms}ms",
            [sys.executable, "-m", "payment_service"],
            env=self._env("payments", self.payment_port, extra),
            cwd=self.log_dir,
            log_dir=self.log_dir,
        )
        await self.payment.start()
        await self.order.wait_http(self.order_port, "/health/ready", expect=200, timeout_s=60)
        await self.payment.wait_http(self.payment_port, "/health/ready", expect=200, timeout_s=60)

    async def settle(self, load: LoadResult, user_id: str, timeout_s: float) -> Settled:
        dsn = self.databases["orders"].replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                row = await conn.fetchrow(
                    "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'pending') AS pending "
                    "FROM orders WHERE user_id = $1",
                    user_id,
                )
                assert row is not None  # noqa: S101 — an aggregate always answers
                if row["n"] >= load.ok and row["pending"] == 0:
                    break
                if time.monotonic() > deadline:
                    raise CliError(
                        f"orderflow: {row['pending']} of {row['n']} orders still pending after "
                        f"{timeout_s:g} s (logs in {self.log_dir})"
                    )
                await asyncio.sleep(0.05)
            rows: list[Any] = await conn.fetch(
                "SELECT created_at, updated_at FROM orders WHERE user_id = $1", user_id
            )
        finally:
            await conn.close()
        latencies = [(r["updated_at"] - r["created_at"]).total_seconds() * 1000 for r in rows]
        end = max(r["updated_at"].timestamp() for r in rows) if rows else time.time()
        return Settled(end_at=end, latencies_ms=latencies)

    async def stop(self) -> None:
        for proc in (self.order, self.payment):
            if proc is not None:
                proc.sample_rss()
                await proc.stop()
