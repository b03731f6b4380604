"""`orderflow up`: the whole system on one machine with no Docker.

moto server (unless SQS_ENDPOINT names an engine), the queues, migrated databases and both
services, each line of output prefixed by its process; Ctrl-C or SIGTERM stops the services first,
then the engine, and leaves nothing listening.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orderflow_cli.errors import CliError
from orderflow_cli.migrate import MigrationTarget, migrate
from orderflow_cli.queues import QueueSettings, describe_endpoint, init_queues, load_queue_settings
from orderflow_cli.services import (
    ORDER_SERVICE,
    PAYMENT_SERVICE,
    SERVICES,
    ServiceInfo,
    normalise_database_url,
    redact_url,
    sqlite_url,
)
from orderflow_devtools.engines import DEFAULT_ENGINE, ensure_fauxqs, fauxqs_argv
from orderflow_devtools.probes import http_status, port_is_free, wait_until
from orderflow_devtools.supervisor import ChildDied, ProcessSpec, Stopped, Supervisor

LOOPBACK = "127.0.0.1"
ENGINE_NAME = "moto"
# werkzeug's access log: one line per SQS call. Successful calls are noise; errors are kept.
_MOTO_ACCESS_OK = re.compile(r'^\S+ - - \[[^\]]*\] "[A-Z]+ [^"]*" [23]\d\d ')


def _is_moto_access_ok(line: str) -> bool:
    return _MOTO_ACCESS_OK.match(line) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpOptions:
    """What `orderflow up` is told on its command line.

    sqs_port: where the embedded moto server listens (default 4566; unused with SQS_ENDPOINT).
    order_port / payment_port: the services' HTTP ports (default 3001 / 3002).
    data_dir: where the SQLite databases live (default ./data, git-ignored).
    ready_timeout_s: how long a service may take to answer /health/ready (default 120 s).
    stop_timeout_s: how long a child gets between SIGTERM and SIGKILL (default 15 s).
    engine: the embedded SQS engine, "moto" (default) or "fauxqs" (installed into the cache on
        first use; unused with SQS_ENDPOINT).
    """

    sqs_port: int = 4566
    order_port: int = ORDER_SERVICE.default_port
    payment_port: int = PAYMENT_SERVICE.default_port
    data_dir: Path = Path("data")
    ready_timeout_s: float = 120.0
    stop_timeout_s: float = 15.0
    engine: str = DEFAULT_ENGINE


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Everything decided before the first process starts."""

    embedded_engine: bool
    engine: str
    queue_settings: QueueSettings
    databases: Mapping[ServiceInfo, str]
    ports: Mapping[ServiceInfo, int]
    env: Mapping[str, str] = field(repr=False)
    notes: tuple[str, ...] = ()

    @property
    def sqs_endpoint(self) -> str:
        assert self.queue_settings.sqs_endpoint is not None  # noqa: S101 — narrowing: set above
        return self.queue_settings.sqs_endpoint


def plan_system(options: UpOptions, environ: Mapping[str, str]) -> Plan:
    """Decide endpoints, databases and environments; refuse ports that are taken."""
    settings = load_queue_settings()
    embedded = settings.sqs_endpoint is None
    ports = {ORDER_SERVICE: options.order_port, PAYMENT_SERVICE: options.payment_port}
    wanted = [(f"{s.name} (--{s.name.split('-')[0]}-port)", p) for s, p in ports.items()]
    if embedded:
        wanted.insert(0, ("the embedded SQS engine (--sqs-port)", options.sqs_port))
    if len({p for _, p in wanted}) != len(wanted):
        raise CliError("the ports must differ: " + ", ".join(f"{w} {p}" for w, p in wanted))
    taken = [f"{p} for {w}" for w, p in wanted if not port_is_free(p)]
    if taken:
        raise CliError(
            f"port already in use on {LOOPBACK}: {'; '.join(taken)}. Stop what listens there "
            "(`ss -ltnp` shows it) or choose other ports."
        )

    overrides: dict[str, object] = {}
    if embedded:
        overrides["sqs_endpoint"] = f"http://{LOOPBACK}:{options.sqs_port}"
    # Local engines accept any credentials, but botocore insists on having some.
    if settings.aws_access_key_id is None or settings.aws_secret_access_key is None:
        overrides.update(aws_access_key_id="test", aws_secret_access_key="test")  # noqa: S106 — dummy
    settings = load_queue_settings(overrides)

    notes: list[str] = []
    if environ.get("DATABASE_URL") and not all(environ.get(s.database_env) for s in SERVICES):
        notes.append(
            "DATABASE_URL is ignored: the two services cannot share a database; set "
            "ORDER_DATABASE_URL and PAYMENT_DATABASE_URL to choose theirs"
        )
    databases: dict[ServiceInfo, str] = {}
    for service in SERVICES:
        url = environ.get(service.database_env) or sqlite_url(options.data_dir, service)
        databases[service] = normalise_database_url(service, url)

    env = dict(environ)
    # The services write to our pipe, not a terminal: without this they would log JSON lines.
    env.setdefault("LOG_FORMAT", "console")
    env.update(
        PYTHONUNBUFFERED="1",
        HOST=LOOPBACK,
        SQS_ENDPOINT=settings.sqs_endpoint or "",
        AWS_REGION=settings.aws_region,
        AWS_ACCESS_KEY_ID=settings.aws_access_key_id or "",
        AWS_SECRET_ACCESS_KEY=settings.aws_secret_access_key or "",
    )
    return Plan(
        embedded_engine=embedded,
        engine=options.engine,
        queue_settings=settings,
        databases=databases,
        ports=ports,
        env=env,
        notes=tuple(notes),
    )


def _service_spec(plan: Plan, service: ServiceInfo, options: UpOptions) -> ProcessSpec:
    env = dict(plan.env)
    env.update(PORT=str(plan.ports[service]), DATABASE_URL=plan.databases[service])
    return ProcessSpec(
        name=service.name,
        argv=(sys.executable, "-m", service.module),
        env=env,
        layer=1,
        stop_timeout_s=options.stop_timeout_s,
    )


def _fauxqs_spec(
    plan: Plan, options: UpOptions, argv: list[str], extra: dict[str, str]
) -> ProcessSpec:
    return ProcessSpec(
        name="fauxqs",
        argv=argv,
        env={**plan.env, **extra},
        layer=0,
        stop_timeout_s=options.stop_timeout_s,
    )


def _engine_spec(plan: Plan, options: UpOptions) -> ProcessSpec:
    return ProcessSpec(
        name=ENGINE_NAME,
        argv=(sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(options.sqs_port)),
        env=plan.env,
        layer=0,
        stop_timeout_s=options.stop_timeout_s,
        hide_line=_is_moto_access_ok,
    )


async def _answers(port: int, path: str, expect: int | None = None) -> bool:
    status = await http_status(LOOPBACK, port, path)
    return status is not None and (expect is None or status == expect)


async def start_system(supervisor: Supervisor, plan: Plan, options: UpOptions) -> None:
    """Engine, queues, migrations, services; returns once both services are ready."""
    for note in plan.notes:
        supervisor.log(note)
    if plan.embedded_engine and plan.engine == "fauxqs":
        loop = asyncio.get_running_loop()

        def progress(line: str) -> None:
            loop.call_soon_threadsafe(supervisor.log, line)

        install = await asyncio.to_thread(ensure_fauxqs, progress)
        supervisor.log(f"starting fauxqs on {plan.sqs_endpoint}")
        argv, extra = fauxqs_argv(install, options.sqs_port)
        await supervisor.start(_fauxqs_spec(plan, options, argv, extra))
        if not await wait_until(lambda: _answers(options.sqs_port, "/"), timeout_s=30):
            raise CliError(f"fauxqs did not answer on {plan.sqs_endpoint} within 30 s")
    elif plan.embedded_engine:
        supervisor.log(f"starting moto server on {plan.sqs_endpoint}")
        await supervisor.start(_engine_spec(plan, options))
        if not await wait_until(lambda: _answers(options.sqs_port, "/moto-api/"), timeout_s=30):
            raise CliError(f"moto server did not answer on {plan.sqs_endpoint} within 30 s")

    supervisor.log(f"creating the queues on {describe_endpoint(plan.queue_settings)}")
    urls = await init_queues(plan.queue_settings)
    for name, url in urls.urls.items():
        supervisor.log(f"  queue {name}: {url}")

    targets = [MigrationTarget(s, url) for s, url in plan.databases.items()]
    for target in targets:
        if target.database_url.startswith("sqlite"):
            options.data_dir.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()

    def report(line: str) -> None:
        loop.call_soon_threadsafe(supervisor.log, line)

    # Alembic blocks and runs an event loop of its own: it gets a thread.
    await asyncio.to_thread(migrate, targets, report)

    for service in SERVICES:
        await supervisor.start(_service_spec(plan, service, options))

    async def ready(service: ServiceInfo) -> None:
        port = plan.ports[service]
        if not await wait_until(
            lambda: _answers(port, "/health/ready", 200),
            timeout_s=options.ready_timeout_s,
            interval_s=0.2,
        ):
            status = await http_status(LOOPBACK, port, "/health/ready")
            answer = f"it answered {status}" if status is not None else "nothing answered"
            raise CliError(
                f"{service.name} was not ready within {options.ready_timeout_s:g} s "
                f"(GET http://{LOOPBACK}:{port}/health/ready: {answer})"
            )

    await asyncio.gather(*(ready(s) for s in SERVICES))


def banner(plan: Plan, seconds: float) -> str:
    order = plan.ports[ORDER_SERVICE]
    payment = plan.ports[PAYMENT_SERVICE]
    engine = (
        "SQS_ENDPOINT"
        if not plan.embedded_engine
        else "fauxqs, embedded"
        if plan.engine == "fauxqs"
        else "moto server, embedded"
    )
    databases = "\n".join(
        f"  {'Databases' if i == 0 else '':<13} {s.name}: {redact_url(url)}"
        for i, (s, url) in enumerate(plan.databases.items())
    )
    body = '{"userId":"dev-user","total":42.00}'
    return (
        f"\norderflow is up in {seconds:.1f} s: http://{LOOPBACK}:{order}\n"
        f"  {'Order API':<13} http://{LOOPBACK}:{order}/orders\n"
        f"  {'Swagger UI':<13} http://{LOOPBACK}:{order}/docs\n"
        f"  {'Payment ops':<13} http://{LOOPBACK}:{payment}/health/ready "
        "(also /health/live, /metrics)\n"
        f"  {'SQS':<13} {plan.sqs_endpoint} ({engine})\n"
        f"{databases}\n"
        "  Try it:\n"
        f"    curl -X POST http://localhost:{order}/orders "
        f"-H \"Content-Type: application/json\" -d '{body}'\n"
        f"    curl http://localhost:{order}/orders/<id from the answer>\n"
        "  Ctrl-C stops everything.\n\n"
    )


async def _run(options: UpOptions, environ: Mapping[str, str]) -> int:
    supervisor = Supervisor()
    stop = asyncio.Event()
    force = asyncio.Event()
    first_signal_at: float | None = None

    def on_signal(sig: signal.Signals) -> None:
        nonlocal first_signal_at
        now = time.monotonic()
        if first_signal_at is None:
            first_signal_at = now
            supervisor.log(f"{sig.name}: stopping (press Ctrl-C again to kill at once)")
            stop.set()
        # The terminal and a wrapper (uv run, make) may deliver one Ctrl-C twice: only a
        # second press, a moment later, means "now".
        elif now - first_signal_at > 1.0 and not force.is_set():
            supervisor.log(f"{sig.name} again: killing what is left")
            force.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    error: str | None = None
    try:
        started = time.monotonic()
        plan = plan_system(options, environ)
        await supervisor.watch(start_system(supervisor, plan, options), stop)
        supervisor.write(banner(plan, time.monotonic() - started))
        await supervisor.watch(stop.wait(), stop)
    except Stopped:
        pass
    except (ChildDied, CliError) as exc:
        error = str(exc)
        if supervisor.children:
            supervisor.log(f"{error}: stopping everything")
    finally:
        await supervisor.stop_all(force)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if error is not None:
        raise CliError(error)
    supervisor.log("stopped")
    return 0


def run_up(options: UpOptions, environ: Mapping[str, str] | None = None) -> int:
    """The command."""
    return asyncio.run(_run(options, os.environ if environ is None else environ))
