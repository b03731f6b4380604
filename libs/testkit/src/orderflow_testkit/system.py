"""The whole orderflow system as real processes, for chaos tests.

One scenario gets one `OrderflowSystem`: the session's SQS engine (moto server, or fauxqs with
`ORDERFLOW_TEST_ENGINE=fauxqs`) in a process of its own (so SIGSTOP can freeze it), two fresh
PostgreSQL databases, an order-service and N payment-service processes on free ports, each
logging to a file of its own. Its `settle()` waits until every order is settled and nothing is
left to deliver, stops every process (exit code 0 after SIGTERM, no port left listening) and
checks the books (see `orderflow_testkit.books`); it returns a `ChaosResult` and appends it, as
one JSON line, to the file named by `$CHAOS_REPORT` when that is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy.engine import make_url

from orderflow_messaging import (
    QueueUrls,
    SqsClientOptions,
    dead_letter_name,
    open_sqs_client,
    resolve_queue_urls,
)
from orderflow_testkit.books import check_books
from orderflow_testkit.databases import postgres_database
from orderflow_testkit.engines import engine_command
from orderflow_testkit.load import LoadReport, OrderLoad
from orderflow_testkit.options import APPROVAL_LIMIT, SERVICE_SETTINGS, SystemOptions
from orderflow_testkit.processes import ManagedProcess
from orderflow_testkit.proxy import TcpProxy
from orderflow_testkit.report import record_result
from orderflow_testkit.results import ChaosResult, InjectedPoison, Progress
from orderflow_testkit.sqs import queue_depth
from orderflow_testkit.waiting import ConditionTimeout, free_port, port_is_listening, wait_for_value

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


def _plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _via(url: str, proxy: TcpProxy) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


class OrderflowSystem:
    """The SQS engine, two PostgreSQL databases, order- and payment-service(s): real processes.

    Build it with `await OrderflowSystem.start(workdir, options)` (or construct it and `boot()`);
    `settle()` ends it and checks it; `close()` (always call it) kills whatever is left and drops
    the databases.
    """

    def __init__(self, workdir: Path, options: SystemOptions) -> None:
        self.workdir = workdir
        self.options = options
        prefix = f"c{uuid.uuid4().hex[:8]}-"
        self.orders_queue = prefix + "orders"
        self.results_queue = prefix + "payment-results"
        sqs_port = free_port()
        argv, extra = engine_command(options.engine, sqs_port)
        self.sqs_engine = ManagedProcess(
            options.engine,
            argv,
            port=sqs_port,
            env={**os.environ, **extra},
            log_path=workdir / f"{options.engine}.log",
            cwd=workdir,
            ready_path=None,
        )
        self.order: ManagedProcess | None = None
        self.payments: list[ManagedProcess] = []
        self.db_proxy: TcpProxy | None = None
        self.order_db = ""
        self.payment_db = ""
        self._stack = contextlib.AsyncExitStack()
        self._pools: dict[str, Any] = {}
        self._sqs: SQSClient | None = None
        self._urls: QueueUrls | None = None
        self._closed = False
        self.results: list[ChaosResult] = []

    # --- life cycle

    @classmethod
    async def start(cls, workdir: Path, options: SystemOptions | None = None) -> OrderflowSystem:
        system = cls(workdir, options or SystemOptions())
        try:
            await system.boot()
        except BaseException:
            await system.close()
            raise
        return system

    async def boot(self) -> None:
        """Start the SQS engine, the databases (and proxy) and every service; return once ready."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sqs_engine.start()
        self.order_db = await self._stack.enter_async_context(postgres_database())
        self.payment_db = await self._stack.enter_async_context(postgres_database())
        for name, url in (("order", self.order_db), ("payment", self.payment_db)):
            self._pools[name] = await asyncpg.create_pool(_plain_dsn(url), min_size=1, max_size=3)
        service_order_db, service_payment_db = self.order_db, self.payment_db
        if self.options.database_proxy:
            pg = make_url(self.order_db)
            self.db_proxy = TcpProxy(pg.host or "127.0.0.1", pg.port or 5432)
            self.db_proxy.start()
            service_order_db = _via(self.order_db, self.db_proxy)
            service_payment_db = _via(self.payment_db, self.db_proxy)
        await self.sqs_engine.wait_ready(30)
        self.order = self._service("order-service", "order_service", service_order_db)
        self.payments = [
            self._service(f"payment-service-{n}", "payment_service", service_payment_db)
            for n in range(1, self.options.payment_workers + 1)
        ]
        # The first worker migrates the payment database; the others start once it has.
        first, *others = self.payments
        await asyncio.gather(self.order.start_ready(), first.start_ready())
        await asyncio.gather(*(worker.start_ready() for worker in others))
        self._sqs = await self._stack.enter_async_context(open_sqs_client(self.sqs_options))
        names = [self.orders_queue, self.results_queue]
        self._urls = await resolve_queue_urls(
            self._sqs, names + [dead_letter_name(n) for n in names]
        )

    def _service(self, name: str, module: str, database_url: str) -> ManagedProcess:
        port = free_port()
        o = self.options
        env = {k: v for k, v in os.environ.items() if k.upper() not in SERVICE_SETTINGS}
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "DATABASE_URL": database_url,
                "SQS_ENDPOINT": f"http://127.0.0.1:{self.sqs_engine.port}",
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "ORDERS_QUEUE": self.orders_queue,
                "PAYMENT_RESULTS_QUEUE": self.results_queue,
                "VISIBILITY_TIMEOUT_S": str(o.visibility_timeout_s),
                "MAX_RECEIVE_COUNT": str(o.max_receive_count),
                "CONSUMER_CONCURRENCY": str(o.consumer_concurrency),
                "SHUTDOWN_GRACE_S": str(o.shutdown_grace_s),
                "RELAY_POLL_INTERVAL_S": str(o.relay_poll_interval_s),
                "PAYMENT_LATENCY_MS": str(o.payment_latency_ms),
                "PAYMENT_APPROVAL_LIMIT": str(APPROVAL_LIMIT),
                "LOG_LEVEL": "INFO",
            }
        )
        env.update(o.extra_env)
        return ManagedProcess(
            name,
            [sys.executable, "-m", module],
            port=port,
            env=env,
            log_path=self.workdir / f"{name}.log",
            # A folder of its own: no developer's `.env` is read.
            cwd=self.workdir / name,
        )

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.sqs_engine, *([self.order] if self.order else []), *self.payments]

    @property
    def services(self) -> list[ManagedProcess]:
        return [p for p in self.processes if p is not self.sqs_engine]

    @property
    def order_service(self) -> ManagedProcess:
        if self.order is None:
            raise RuntimeError("the system was not started")
        return self.order

    @property
    def sqs_options(self) -> SqsClientOptions:
        return SqsClientOptions(
            endpoint_url=f"http://127.0.0.1:{self.sqs_engine.port}",
            access_key_id="test",
            secret_access_key="test",
        )

    @property
    def sqs(self) -> SQSClient:
        if self._sqs is None:
            raise RuntimeError("the system was not started")
        return self._sqs

    def queue_url(self, name: str) -> str:
        if self._urls is None:
            raise RuntimeError("the system was not started")
        return self._urls[name]

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        return {p.name: p.tail(lines) for p in self.processes}

    async def close(self) -> None:
        """Kill what still runs (a failed test's leftovers), close the proxy, drop the databases."""
        if self._closed:
            return
        self._closed = True
        for process in self.processes:
            if process.running:
                process.kill()
        if self.db_proxy is not None:
            with contextlib.suppress(Exception):
                self.db_proxy.close()
            self.db_proxy = None
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
        await self._stack.aclose()

    # --- looking inside

    async def fetch(self, db: str, sql: str, *args: object) -> list[Any]:
        """Rows from the `order` or `payment` database, read directly (never via the proxy)."""
        rows: list[Any] = await self._pools[db].fetch(sql, *args)
        return rows

    async def fetchval(self, db: str, sql: str, *args: object) -> int:
        return int(await self._pools[db].fetchval(sql, *args))

    async def payment_count(self) -> int:
        return await self.fetchval("payment", "SELECT count(*) FROM payments")

    async def in_flight(self, queue: str) -> int:
        """Messages of `queue` received and not yet deleted (being handled, or abandoned)."""
        response = await self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url(queue),
            AttributeNames=["ApproximateNumberOfMessagesNotVisible"],
        )
        return int(response.get("Attributes", {}).get("ApproximateNumberOfMessagesNotVisible", 0))

    async def send_raw(
        self, queue: str, bodies: Iterable[str], attributes: Mapping[str, str] | None = None
    ) -> None:
        """Put messages on a queue as they are, the way a stranger's producer might."""
        message_attributes = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in (attributes or {}).items()
        }
        for body in bodies:
            await self.sqs.send_message(
                QueueUrl=self.queue_url(queue),
                MessageBody=body,
                MessageAttributes=message_attributes,  # type: ignore[arg-type]
            )

    def load(self, count: int, **options: Any) -> OrderLoad:
        """An `OrderLoad` against this system's order-service (see `OrderLoad` for options)."""
        return OrderLoad(self.order_service.url, count, **options)

    async def progress(self, load: LoadReport) -> Progress:
        accepted = list(load.accepted)
        order = self._pools["order"]
        payment = self._pools["payment"]
        present = await order.fetchval(
            "SELECT count(*) FROM orders WHERE id = ANY($1::text[])", accepted
        )
        depth = 0
        for queue in (self.orders_queue, self.results_queue):
            depth += await queue_depth(self.sqs, self.queue_url(queue))
        return Progress(
            pending_orders=await order.fetchval(
                "SELECT count(*) FROM orders WHERE status = 'pending'"
            ),
            missing_orders=len(accepted) - int(present),
            unpublished_order_rows=await order.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            ),
            unpublished_payment_rows=await payment.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            ),
            queued_messages=depth,
        )

    async def wait_quiet(self, load: LoadReport, timeout_s: float = 90.0) -> Progress:
        """Until every order is settled, every outbox row published and both queues empty."""
        return await wait_for_value(
            lambda: self.progress(load),
            lambda p: p.quiet,
            timeout_s=timeout_s,
            interval_s=0.25,
            what="every order settled, every outbox row published, both queues empty",
        )

    # --- the verdict

    async def settle(
        self,
        scenario: str,
        load: LoadReport,
        *,
        poison: Sequence[InjectedPoison] = (),
        timeout_s: float = 90.0,
    ) -> ChaosResult:
        """Wait until quiet, stop every process and check the books (see `check_books`).

        The result goes to `self.results` and to `$CHAOS_REPORT`; it is not asserted here.
        """
        problems: list[str] = []
        try:
            await self.wait_quiet(load, timeout_s)
        except ConditionTimeout as exc:
            problems.append(str(exc))
        settle_seconds = time.monotonic() - load.finished_at
        problems += [p for p in await asyncio.gather(*(s.stop() for s in self.services)) if p]
        books = await check_books(self, load, poison)
        problems += books.problems
        problems += await self._stop_infrastructure()
        if load.not_accepted:
            first = next(iter(load.not_accepted.items()))
            problems.append(f"{len(load.not_accepted)} order(s) not accepted (first: {first})")
        result = ChaosResult(
            scenario=scenario,
            accepted=len(load.accepted),
            paid=books.paid,
            failed=books.failed,
            duplicate_payments=books.duplicate_payments,
            lost_orders=books.lost_orders,
            dlq_count=books.dlq_count,
            settle_seconds=round(settle_seconds, 1),
            ok=not problems,
            problems=tuple(problems),
        )
        self.results.append(result)
        record_result(result)
        return result

    async def _stop_infrastructure(self) -> list[str]:
        problems = [p for p in [await self.sqs_engine.stop()] if p]
        if self.db_proxy is not None:
            self.db_proxy.close()
            ports = [self.db_proxy.port]
            self.db_proxy = None
        else:
            ports = []
        ports += [p.port for p in self.processes]
        listening = [port for port in ports if port_is_listening(port)]
        if listening:
            problems.append(f"ports still listening after the stop: {listening}")
        alive = [p.name for p in self.processes if p.running]
        if alive:
            problems.append(f"processes left running: {alive}")
        return problems
