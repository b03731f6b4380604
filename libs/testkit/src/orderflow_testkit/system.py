"""The whole orderflow system as real processes, for chaos tests.

One scenario gets one `OrderflowSystem`: the session's SQS engine (moto server, or fauxqs with
`ORDERFLOW_TEST_ENGINE=fauxqs`) in a process of its own (so SIGSTOP can freeze it), two fresh
PostgreSQL databases, an order-service and N payment-service processes on free ports, each
logging to a file of its own. Around it:

- `ManagedProcess`: start, wait until ready, terminate with an exit-code check, kill, restart,
  freeze and thaw one child process (signalled by its pid only).
- `OrderLoad`: places orders over HTTP the way a careful client does: every request carries an
  Idempotency-Key and is retried while the service is down, so a request that timed out after its
  commit is neither lost nor placed twice. Only the ids answered with 201 count as accepted.
- `DuplicateInjector`: delivers every published event a second time.
- `OrderflowSystem.settle()`: waits until every order is settled and nothing is left to deliver,
  stops every process (exit code 0 after SIGTERM, no port left listening) and checks the books:
  one payment per accepted order, order and payment agreeing, the DLQ holding exactly the poison
  messages injected, no outbox row unpublished. It returns a `ChaosResult` and appends it, as one
  JSON line, to the file named by `$CHAOS_REPORT` when that is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from orderflow_messaging import (
    DLQ_REASON_ATTRIBUTE,
    QueueUrls,
    SqsClientOptions,
    open_sqs_client,
    resolve_queue_urls,
)
from orderflow_testkit.databases import postgres_database
from orderflow_testkit.engines import engine_command, selected_engine
from orderflow_testkit.proxy import TcpProxy
from orderflow_testkit.sqs import queue_depth, receive_messages
from orderflow_testkit.waiting import (
    ConditionTimeout,
    free_port,
    port_is_listening,
    wait_for_value,
)

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

_SAMPLE: Final = re.compile(r"(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)")
_LABEL: Final = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

REPORT_ENV: Final = "CHAOS_REPORT"
"""Each `ChaosResult` is appended to this file as one JSON line when the variable is set."""

APPROVAL_LIMIT: Final = Decimal("10000.00")
LIMIT_EXCEEDED: Final = "limit_exceeded"

# Settings of the services that must come from the harness, never from the developer's shell.
_SERVICE_SETTINGS: Final = frozenset(
    {
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SQS",
        "SQS_ENDPOINT",
        "DATABASE_URL",
        "HOST",
        "PORT",
        "LOG_LEVEL",
        "ORDERS_QUEUE",
        "PAYMENT_RESULTS_QUEUE",
        "APPLY_TOPOLOGY",
        "MAX_RECEIVE_COUNT",
        "VISIBILITY_TIMEOUT_S",
        "DEFAULT_CURRENCY",
        "MAX_BODY_BYTES",
        "CONSUMER_CONCURRENCY",
        "RELAY_POLL_INTERVAL_S",
        "SHUTDOWN_GRACE_S",
        "PAYMENT_APPROVAL_LIMIT",
        "PAYMENT_LATENCY_MS",
        "PAYMENT_FAILURE_RATE",
    }
)


# --- one child process ---------------------------------------------------------------------


class ManagedProcess:
    """One child process on a port of its own, logging (stdout and stderr) to `log_path`.

    ready_path: the HTTP path that answers 200 once it is ready (None: the port listens).
    Every signal goes to this child's pid and nowhere else.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path,
        ready_path: str | None = "/health/ready",
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.ready_path = ready_path
        self.exit_codes: list[int] = []
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._frozen = False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"=== {self.name}: start #{self.starts}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                # A session of its own: a Ctrl-C in the terminal reaches pytest only.
                start_new_session=True,
            )

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until it answers ready; fails at once, with its log, if it exits meanwhile."""

        async def probe(client: httpx.AsyncClient) -> bool:
            if not self.running:
                raise AssertionError(
                    f"{self.name} exited ({self._describe_exit()}) before it was ready:\n"
                    + self.tail()
                )
            if self.ready_path is None:
                return port_is_listening(self.port)
            try:
                response = await client.get(self.url + self.ready_path)
            except httpx.TransportError:
                return False
            return response.status_code == 200

        async with httpx.AsyncClient(timeout=2.0) as client:
            try:
                await wait_for_value(
                    lambda: probe(client),
                    bool,
                    timeout_s=timeout_s,
                    interval_s=0.1,
                    what=f"{self.name} ready",
                )
            except ConditionTimeout as exc:
                raise ConditionTimeout(f"{exc}\n{self.tail()}") from None

    async def start_ready(self, timeout_s: float = 60.0) -> None:
        self.start()
        await self.wait_ready(timeout_s)

    async def terminate(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Send `sig` and return the exit code; SIGKILL and fail when it does not exit in time."""
        process = self._require()
        if process.poll() is None:
            process.send_signal(sig)
            if self._frozen:
                self.thaw()  # a stopped process acts on its signals only once continued
        try:
            code = await asyncio.to_thread(process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            code = await asyncio.to_thread(process.wait)
            self.exit_codes.append(code)
            raise AssertionError(
                f"{self.name} did not exit within {timeout_s:g} s of {sig.name}; killed:\n"
                + self.tail()
            ) from None
        self.exit_codes.append(code)
        return code

    async def stop(self, timeout_s: float = 30.0) -> str | None:
        """SIGTERM; None when it exited 0 in time, else what went wrong."""
        if not self.running:
            return None
        try:
            code = await self.terminate(signal.SIGTERM, timeout_s)
        except AssertionError as exc:
            return str(exc).splitlines()[0]
        return None if code == 0 else f"{self.name} exited {code} after SIGTERM"

    def kill(self) -> int:
        """SIGKILL: no clean-up at all, like a crash or the OOM killer."""
        process = self._require()
        process.kill()
        code = process.wait()
        self._frozen = False
        self.exit_codes.append(code)
        return code

    async def restart(self, timeout_s: float = 60.0) -> None:
        """Start it again (on the same port) once it is not running, and wait until ready."""
        if self.running:
            raise RuntimeError(f"{self.name} is still running")
        await self.start_ready(timeout_s)

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing."""
        os.kill(self._require().pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT after `freeze()`."""
        os.kill(self._require().pid, signal.SIGCONT)
        self._frozen = False

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"({self.name}: no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _require(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._process

    def _describe_exit(self) -> str:
        code = None if self._process is None else self._process.poll()
        if code is None:
            return "running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"


# --- the system ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemOptions:
    """How a chaos system is built.

    payment_workers: payment-service processes on the one orders queue (default 1).
    database_proxy: put a `TcpProxy` between both services and PostgreSQL (default False).
    visibility_timeout_s: the queues' visibility timeout; small, so the work of a killed worker
        comes back soon (default 5).
    max_receive_count: receives before SQS moves a message to its DLQ (default 5).
    consumer_concurrency: handlers at once per service (default 10).
    shutdown_grace_s: how long in-flight handlers may finish on SIGTERM (default 5).
    relay_poll_interval_s: the outbox relays' slow poll (default 0.5).
    payment_latency_ms: the simulated provider's latency (default 0).
    extra_env: more environment for every service (default none).
    engine: the SQS engine, "moto" or "fauxqs" (default: `$ORDERFLOW_TEST_ENGINE`, else moto).
    """

    payment_workers: int = 1
    database_proxy: bool = False
    visibility_timeout_s: int = 5
    max_receive_count: int = 5
    consumer_concurrency: int = 10
    shutdown_grace_s: float = 5.0
    relay_poll_interval_s: float = 0.5
    payment_latency_ms: int = 0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    engine: str = field(default_factory=selected_engine)

    def __post_init__(self) -> None:
        if self.payment_workers < 1:
            raise ValueError("payment_workers must be at least 1")


@dataclass(frozen=True, slots=True)
class InjectedPoison:
    """A message that can never be handled, and the DLQ reason it must arrive with."""

    body: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChaosResult:
    """The books of one scenario after it settled (`settle_seconds`: from the end of the load)."""

    scenario: str
    accepted: int
    paid: int
    failed: int
    duplicate_payments: int
    lost_orders: int
    dlq_count: int
    settle_seconds: float
    ok: bool
    problems: tuple[str, ...] = ()

    def explain(self) -> str:
        return f"{self.scenario}: " + ("ok" if self.ok else "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Progress:
    """What is still moving: orders not settled, rows not published, messages not consumed."""

    pending_orders: int
    missing_orders: int
    unpublished_order_rows: int
    unpublished_payment_rows: int
    queued_messages: int

    @property
    def quiet(self) -> bool:
        return not any(dataclasses.astuple(self))


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
        self._urls = await resolve_queue_urls(self._sqs, names + [f"{n}-dlq" for n in names])

    def _service(self, name: str, module: str, database_url: str) -> ManagedProcess:
        port = free_port()
        o = self.options
        env = {k: v for k, v in os.environ.items() if k.upper() not in _SERVICE_SETTINGS}
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
        """Wait until quiet, stop every process and check the books (see the module docstring).

        The result goes to `self.results` and to `$CHAOS_REPORT`; it is not asserted here.
        """
        problems: list[str] = []
        try:
            await self.wait_quiet(load, timeout_s)
        except ConditionTimeout as exc:
            problems.append(str(exc))
        settle_seconds = time.monotonic() - load.finished_at
        problems += [p for p in await asyncio.gather(*(s.stop() for s in self.services)) if p]
        books = await self._books(load, poison)
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

    async def _books(self, load: LoadReport, poison: Sequence[InjectedPoison]) -> _Books:
        books = _Books()
        orders = {
            r["id"]: r
            for r in await self.fetch(
                "order", "SELECT id, status, failure_reason, total FROM orders"
            )
        }
        payments: dict[str, list[Any]] = {}
        for r in await self.fetch("payment", "SELECT order_id, status, reason FROM payments"):
            payments.setdefault(r["order_id"], []).append(r)
        books.duplicate_payments = sum(len(p) - 1 for p in payments.values() if len(p) > 1)
        if books.duplicate_payments:
            books.problems.append(f"{books.duplicate_payments} duplicate payment(s)")
        lost: list[str] = []
        mismatched: list[str] = []
        for order_id, total in load.accepted.items():
            order = orders.get(order_id)
            paid = payments.get(order_id, [])
            if order is None or order["status"] == "pending" or not paid:
                lost.append(order_id)
                continue
            books.paid += order["status"] == "paid"
            books.failed += order["status"] == "payment_failed"
            if why := _mismatch(total, order, paid[0]):
                mismatched.append(f"{order_id}: {why}")
        books.lost_orders = len(lost)
        if lost:
            books.problems.append(f"{len(lost)} accepted order(s) lost (first: {lost[0]})")
        if mismatched:
            books.problems.append(f"{len(mismatched)} mismatch(es) (first: {mismatched[0]})")
        # Orders the client gave up on may still have been committed: they must settle too.
        unsettled = [i for i, o in orders.items() if o["status"] == "pending" or i not in payments]
        if unsettled:
            books.problems.append(f"{len(unsettled)} stored order(s) unsettled: {unsettled[:3]}")
        orphans = [i for i in payments if i not in orders]
        if orphans:
            books.problems.append(f"{len(orphans)} payment(s) of unknown orders: {orphans[:3]}")
        for db in ("order", "payment"):
            left = await self.fetchval(db, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
            if left:
                books.problems.append(f"{left} unpublished outbox row(s) in the {db} database")
        await self._check_dead_letters(books, poison)
        return books

    async def _check_dead_letters(self, books: _Books, poison: Sequence[InjectedPoison]) -> None:
        orders_dlq = self.queue_url(f"{self.orders_queue}-dlq")
        results_dlq = self.queue_url(f"{self.results_queue}-dlq")
        in_orders_dlq = await queue_depth(self.sqs, orders_dlq)
        in_results_dlq = await queue_depth(self.sqs, results_dlq)
        books.dlq_count = in_orders_dlq + in_results_dlq
        if in_results_dlq:
            books.problems.append(f"{in_results_dlq} message(s) in the payment-results DLQ")
        messages = await receive_messages(self.sqs, orders_dlq, in_orders_dlq, timeout_s=15)
        found: Counter[tuple[str, str]] = Counter()
        for message in messages:
            reason = "(no reason)"
            attributes = message.get("MessageAttributes")
            if attributes and DLQ_REASON_ATTRIBUTE in attributes:
                reason = attributes[DLQ_REASON_ATTRIBUTE].get("StringValue", reason)
            found[(message.get("Body", ""), reason)] += 1
        expected: Counter[tuple[str, str]] = Counter((p.body, p.reason) for p in poison)
        if found != expected:
            missing = list((expected - found).elements())
            unexpected = list((found - expected).elements())
            books.problems.append(
                f"orders DLQ: {len(messages)} message(s), {len(poison)} expected; "
                f"missing {missing[:3]}, unexpected {[(b[:80], r) for b, r in unexpected[:3]]}"
            )


@dataclass
class _Books:
    paid: int = 0
    failed: int = 0
    duplicate_payments: int = 0
    lost_orders: int = 0
    dlq_count: int = 0
    problems: list[str] = field(default_factory=list)


def _mismatch(total: Decimal, order: Any, payment: Any) -> str | None:
    """Why an order and its payment disagree with each other or with the total, if they do."""
    declined = total > APPROVAL_LIMIT
    want = ("payment_failed", "failed") if declined else ("paid", "succeeded")
    got = (order["status"], payment["status"])
    if got != want:
        return f"total {total}: order {got[0]}, payment {got[1]}, expected {want}"
    if declined and (order["failure_reason"], payment["reason"]) != (LIMIT_EXCEEDED,) * 2:
        return f"reasons {order['failure_reason']!r} / {payment['reason']!r}"
    return None


# --- load ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadReport:
    """What a load run placed: `accepted` maps each order answered 201 to its total."""

    requested: int
    accepted: Mapping[str, Decimal]
    not_accepted: Mapping[int, str]
    retries: int
    started_at: float
    finished_at: float

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at


def order_total(index: int, over_limit_every: int) -> Decimal:
    """Deterministic totals: every `over_limit_every`-th is above the approval limit."""
    if over_limit_every and index % over_limit_every == 0:
        return APPROVAL_LIMIT + Decimal("0.01") + index
    return Decimal(f"{1 + (index * 7919) % 9000}.{index % 100:02d}")


class OrderLoad:
    """POST /orders `count` times, at most `concurrency` at once (default 16).

    Every request carries an Idempotency-Key of its own and is retried with that key after a
    transport error or a 5xx, until `give_up_after_s` (default 60 s); a request still failing
    then counts as not accepted, and so does one answered with a 4xx.
    rate_per_s: request i starts no earlier than i / rate (default 30, about what moto carries
        end to end, so the queues stay shallow and the load outlasts a fault; None: no pacing).
    over_limit_every: every n-th order is above the approval limit (default 8).
    request_timeout_s: per request (default 10 s).
    """

    def __init__(
        self,
        base_url: str,
        count: int,
        *,
        concurrency: int = 16,
        rate_per_s: float | None = 30.0,
        over_limit_every: int = 8,
        give_up_after_s: float = 60.0,
        request_timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url
        self.count = count
        self.concurrency = concurrency
        self.rate_per_s = rate_per_s
        self.over_limit_every = over_limit_every
        self.give_up_after_s = give_up_after_s
        self.request_timeout_s = request_timeout_s
        self.accepted: dict[str, Decimal] = {}
        self.not_accepted: dict[int, str] = {}
        self.retries = 0
        self._run_id = uuid.uuid4().hex[:12]

    async def wait_accepted(self, count: int, timeout_s: float = 60.0) -> None:
        async def accepted() -> int:
            return len(self.accepted)

        await wait_for_value(
            accepted,
            lambda n: n >= count,
            timeout_s=timeout_s,
            interval_s=0.02,
            what=f"{count} orders accepted",
        )

    async def run(self) -> LoadReport:
        started = time.monotonic()
        slots = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency)
        async with (
            httpx.AsyncClient(
                base_url=self.base_url, timeout=self.request_timeout_s, limits=limits
            ) as client,
            asyncio.TaskGroup() as group,
        ):
            for index in range(self.count):
                if self.rate_per_s:
                    # Pacing the load, not waiting for state: request i starts at i / rate.
                    delay = started + index / self.rate_per_s - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await slots.acquire()
                task = group.create_task(self._place(client, index))
                task.add_done_callback(lambda _: slots.release())
        return LoadReport(
            requested=self.count,
            accepted=dict(self.accepted),
            not_accepted=dict(self.not_accepted),
            retries=self.retries,
            started_at=started,
            finished_at=time.monotonic(),
        )

    async def _place(self, client: httpx.AsyncClient, index: int) -> None:
        total = order_total(index, self.over_limit_every)
        body = {"userId": f"chaos-{index % 20}", "total": str(total)}
        headers = {"Idempotency-Key": f"chaos-{self._run_id}-{index}"}
        deadline = time.monotonic() + self.give_up_after_s
        attempt = 0
        while True:
            try:
                response = await client.post("/orders", json=body, headers=headers)
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 201:
                    self.accepted[str(response.json()["id"])] = total
                    return
                why = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500:
                    self.not_accepted[index] = why  # the request itself is wrong: no retry
                    return
            attempt += 1
            if time.monotonic() > deadline:
                self.not_accepted[index] = why
                return
            self.retries += 1
            # Back off between retries of this one request (its own pace, not a wait for state).
            await asyncio.sleep(min(1.0, 0.05 * 2**attempt))


# --- duplicates ----------------------------------------------------------------------------


class DuplicateInjector:
    """Delivers every published event a second time.

    Each OrderCreated row the order-service's relay marked published is sent again, body and
    attributes as they were, to the orders queue; each payment result the payment-service
    published, to the payment-results queue. `sent` counts the duplicates per database.
    """

    def __init__(self, system: OrderflowSystem, interval_s: float = 0.25) -> None:
        self._system = system
        self._interval_s = interval_s
        self._seen: dict[str, set[str]] = {"order": set(), "payment": set()}
        self._stopping = asyncio.Event()
        self.sent: Counter[str] = Counter()

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.sweep()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)

    def stop(self) -> None:
        self._stopping.set()

    async def sweep(self) -> int:
        """Send the rows published since the last sweep once more; return how many."""
        sent = 0
        targets = (
            ("order", self._system.orders_queue),
            ("payment", self._system.results_queue),
        )
        for db, queue in targets:
            seen = self._seen[db]
            rows = await self._system.fetch(
                db,
                "SELECT id, body, attributes FROM outbox "
                "WHERE published_at IS NOT NULL AND NOT (id = ANY($1::text[])) ORDER BY id",
                list(seen),
            )
            for start in range(0, len(rows), 10):
                batch = rows[start : start + 10]
                await self._system.sqs.send_message_batch(
                    QueueUrl=self._system.queue_url(queue),
                    Entries=[
                        {
                            "Id": str(i),
                            "MessageBody": row["body"],
                            "MessageAttributes": {
                                name: {"DataType": "String", "StringValue": value}
                                for name, value in json.loads(row["attributes"]).items()
                            },
                        }
                        for i, row in enumerate(batch)
                    ],
                )
                seen.update(row["id"] for row in batch)
                self.sent[db] += len(batch)
                sent += len(batch)
        return sent


# --- metrics -------------------------------------------------------------------------------


async def read_metric(base_url: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly `labels` on `base_url`/metrics (0 if absent)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(base_url + "/metrics")
    response.raise_for_status()
    for line in response.text.splitlines():
        match = _SAMPLE.fullmatch(line)
        if match is None or match["name"] != name:
            continue
        if dict(_LABEL.findall(match["labels"] or "")) == labels:
            return float(match["value"])
    return 0.0


# --- a test's systems ------------------------------------------------------------------------


class ChaosLab:
    """Starts the systems of one test, gathers their results; `close()` ends what is left."""

    def __init__(self, workdir: Path, results: list[ChaosResult] | None = None) -> None:
        self.workdir = workdir
        self.results = results if results is not None else []
        self.systems: list[OrderflowSystem] = []

    async def start(self, options: SystemOptions | None = None) -> OrderflowSystem:
        system = OrderflowSystem(
            self.workdir / f"system{len(self.systems) + 1}", options or SystemOptions()
        )
        system.results = self.results
        self.systems.append(system)  # before it boots: a failed start shows its logs too
        await system.boot()
        return system

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        return {
            f"{system.workdir.name}/{name}": tail
            for system in self.systems
            for name, tail in system.log_tails(lines).items()
        }

    async def close(self) -> None:
        for system in self.systems:
            await system.close()


# --- reporting -----------------------------------------------------------------------------


def record_result(result: ChaosResult, path: str | None = None) -> None:
    """Append `result` as one JSON line to `path` (default: `$CHAOS_REPORT`, if set)."""
    target = path or os.environ.get(REPORT_ENV)
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as report:
        report.write(json.dumps(dataclasses.asdict(result)) + "\n")


_COLUMNS: Final = (
    ("scenario", "scenario", 36),
    ("accepted", "accepted", 8),
    ("paid", "paid", 5),
    ("failed", "failed", 6),
    ("dup payments", "duplicate_payments", 12),
    ("lost", "lost_orders", 4),
    ("DLQ", "dlq_count", 3),
    ("settle s", "settle_seconds", 8),
    ("ok", "ok", 3),
)


def format_table(results: Sequence[ChaosResult]) -> list[str]:
    """The results as a Markdown table, one line per scenario."""
    header = "| " + " | ".join(f"{title:<{width}}" for title, _, width in _COLUMNS) + " |"
    rule = "|" + "|".join("-" * (width + 2) for _, _, width in _COLUMNS) + "|"
    lines = [header, rule]
    for result in results:
        values = dataclasses.asdict(result)
        cells = []
        for _, name, width in _COLUMNS:
            value = values[name]
            text = ("yes" if value else "NO") if isinstance(value, bool) else str(value)
            cells.append(f"{text:<{width}}" if name == "scenario" else f"{text:>{width}}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines
