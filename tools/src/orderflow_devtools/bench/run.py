"""`orderflow bench`: the engine, the seed baseline and orderflow, one after another, one run.

Per side: warm-up (3,000 requests by default), api (closed loop, concurrency 32), e2e with a 0 ms
provider (N orders as fast as accepted, then until all are settled), the same at half the rate
it reached (open loop: latency when not saturated), e2e with a 100 ms provider. CPU time of the
side's two processes is measured over the 0 ms e2e phase; peak RSS over the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import platform
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg

from orderflow_cli.errors import CliError
from orderflow_devtools.bench.ceiling import engine_ceiling
from orderflow_devtools.bench.load import LoadResult, closed_loop, open_loop, order_body, summary
from orderflow_devtools.bench.procs import Proc
from orderflow_devtools.bench.report import write_reports
from orderflow_devtools.bench.sides import Engine, OrderflowSide, SeedSide, Settled
from orderflow_devtools.engines.nodejs import ensure_fauxqs, ensure_seed, fauxqs_argv
from orderflow_devtools.probes import port_is_free

CONCURRENCY = 32
# The payment-service consumer's concurrency for a 100 ms provider: ~concurrency / 0.1 s orders/s.
CONCURRENCY_100MS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchOptions:
    """engine: "fauxqs" (default) or "moto". quick: small counts (a smoke run, ~1 minute).

    baselines: the folder holding seed-node/ (None: BENCH_BASELINES, else ../shared/baselines).
    """

    engine: str = "fauxqs"
    quick: bool = False
    results_dir: Path = Path("bench/results")
    out: Path | None = None
    seed_dir: Path | None = None
    baselines: Path | None = None
    postgres: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    sides: tuple[str, ...] = ("seed", "orderflow")


@dataclass(frozen=True, slots=True)
class Counts:
    warmup: int
    api: int
    e2e: int
    e2e_100ms: int
    ceiling: int


FULL = Counts(warmup=3000, api=5000, e2e=2000, e2e_100ms=600, ceiling=20_000)
QUICK = Counts(warmup=300, api=500, e2e=300, e2e_100ms=50, ceiling=2000)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port if port_is_free(port) else _free_port()


def _log(text: str) -> None:
    print(f"bench | {text}", file=sys.stderr, flush=True)


# Where the baselines live beside this repository's checkout; `make bench` runs from its root.
DEFAULT_BASELINES: Final = Path("../shared/baselines")


def find_seed(options: BenchOptions) -> Path:
    """The seed baseline: SEED_DIR, else `seed-node` in --baselines / BENCH_BASELINES / the default.

    No search up the directory tree: the place is the one the option or the variable names.
    """
    if options.seed_dir is not None:
        return options.seed_dir
    if os.environ.get("SEED_DIR"):
        return Path(os.environ["SEED_DIR"])
    baselines = options.baselines or Path(os.environ.get("BENCH_BASELINES") or DEFAULT_BASELINES)
    candidate = baselines / "seed-node"
    if not candidate.is_dir():
        raise CliError(
            f"no seed baseline at {candidate}: pass --baselines DIR or set BENCH_BASELINES "
            "(the folder holding seed-node/)"
        )
    return candidate


@contextlib.asynccontextmanager
async def _engine(options: BenchOptions, log_dir: Path) -> AsyncIterator[tuple[Engine, Path]]:
    """The SQS engine on a free loopback port; yields it and the Node.js that fauxqs uses."""
    install = await asyncio.to_thread(ensure_fauxqs, _log)
    port = _free_port()
    if options.engine == "fauxqs":
        argv, extra = fauxqs_argv(install, port)
        proc = Proc("fauxqs", argv, env={**os.environ, **extra}, cwd=log_dir, log_dir=log_dir)
    else:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        env = {**os.environ, "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}
        proc = Proc("moto", argv, env=env, cwd=log_dir, log_dir=log_dir)
    await proc.start()
    try:
        await proc.wait_http(port, "/", expect=None, timeout_s=30)
        yield Engine(endpoint=f"http://127.0.0.1:{port}"), install.node
    finally:
        await proc.stop()


@contextlib.asynccontextmanager
async def _databases(admin_dsn: str, tag: str) -> AsyncIterator[dict[str, str]]:
    try:
        admin = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise CliError(
            f"PostgreSQL at {admin_dsn} does not answer ({exc}): set BENCH_POSTGRES"
        ) from exc
    names = {"orders": f"ofbench_{tag}_orders", "payments": f"ofbench_{tag}_payments"}
    base = admin_dsn.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        for name in names.values():
            await admin.execute(f'CREATE DATABASE "{name}"')
        yield {k: f"postgresql+asyncpg://{base}/{n}" for k, n in names.items()}
    finally:
        for name in names.values():
            with contextlib.suppress(asyncpg.PostgresError):
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _e2e_figures(load: LoadResult, settled: Settled) -> dict[str, Any]:
    elapsed = settled.end_at - load.started_at
    return {
        "orders": load.ok,
        "errors": load.errors,
        "seconds": round(elapsed, 3),
        "orders_per_s": round(load.ok / elapsed, 1) if elapsed > 0 else 0.0,
        **summary(settled.latencies_ms),
    }


async def _bench_side(
    side: SeedSide | OrderflowSide, counts: Counts, tag: str, samples: dict[str, Any]
) -> dict[str, Any]:
    keep = isinstance(side, SeedSide)
    timeout = 300.0

    async def settle(load: LoadResult, user: str) -> Settled:
        if isinstance(side, SeedSide):
            return await side.settle(load, timeout)
        return await side.settle(load, user, timeout)

    async def place(phase: str, count: int, rate: float | None = None) -> tuple[LoadResult, str]:
        user = f"bench-{tag}-{side.name}-{phase}"
        body = order_body(user)
        if rate is None:
            load = await closed_loop(
                side.url, body, count, concurrency=CONCURRENCY, keep_orders=keep
            )
        else:
            load = await open_loop(side.url, body, count, rate_per_s=rate, keep_orders=keep)
        if load.errors:
            _log(f"{side.name} {phase}: {load.errors} requests failed")
        return load, user

    result: dict[str, Any] = {}
    await side.start(latency_ms=0)
    _log(f"{side.name}: warm-up, {counts.warmup} requests")
    load, user = await place("warmup", counts.warmup)
    await settle(load, user)

    _log(f"{side.name}: api, {counts.api} requests at concurrency {CONCURRENCY}")
    load, user = await place("api", counts.api)
    result["api"] = {
        "requests": load.ok,
        "errors": load.errors,
        "rps": round(load.rps, 1),
        **summary(load.latencies_ms),
    }
    samples["api"] = load.latencies_ms
    await settle(load, user)

    _log(f"{side.name}: e2e with a 0 ms provider, {counts.e2e} orders")
    procs = side.procs()
    cpu_before = sum(p.cpu_seconds() for p in procs)
    load, user = await place("e2e0", counts.e2e)
    settled = await settle(load, user)
    cpu = sum(p.cpu_seconds() for p in procs) - cpu_before
    result["e2e_0ms"] = _e2e_figures(load, settled)
    samples["e2e_0ms"] = settled.latencies_ms
    result["cost"] = {
        "cpu_s_per_1000_orders": round(cpu / max(load.ok, 1) * 1000, 3),
        "rss_mb_max": {p.name: round(p.sample_rss(), 1) for p in procs},
    }

    half = max(1.0, result["e2e_0ms"]["orders_per_s"] / 2)
    count = max(50, min(counts.e2e, int(half * 10)))
    _log(f"{side.name}: e2e at half that rate, {half:.0f} orders/s offered, {count} orders")
    load, user = await place("e2e0half", count, rate=half)
    settled = await settle(load, user)
    result["e2e_0ms_half_rate"] = {"offered_per_s": round(half, 1), **_e2e_figures(load, settled)}

    _log(f"{side.name}: e2e with a 100 ms provider, {counts.e2e_100ms} orders")
    if isinstance(side, OrderflowSide):
        await side.start(latency_ms=100, consumer_concurrency=CONCURRENCY_100MS)
        result["e2e_100ms_consumer_concurrency"] = CONCURRENCY_100MS
    else:
        await side.start(latency_ms=100)
    load, user = await place("e2e100", counts.e2e_100ms)
    settled = await settle(load, user)
    result["e2e_100ms"] = _e2e_figures(load, settled)
    samples["e2e_100ms"] = settled.latencies_ms
    rss = result["cost"]["rss_mb_max"]
    for proc in [*side.procs(), *getattr(side, "retired", [])]:
        rss[proc.name] = round(max(rss.get(proc.name, 0.0), proc.sample_rss()), 1)
    return result


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def _run(options: BenchOptions) -> dict[str, Any]:
    started = time.monotonic()
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    tag = stamp.lower()
    counts = QUICK if options.quick else FULL
    log_dir = (options.results_dir / f"{stamp}-logs").resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "timestamp": now.isoformat(),
        "engine": options.engine,
        "quick": options.quick,
        "counts": dataclasses.asdict(counts),
        "concurrency": CONCURRENCY,
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
        "logs": str(log_dir),
    }
    samples: dict[str, dict[str, Any]] = {}
    _log(f"load average before the run: {report['load_before']}")
    seed_source = find_seed(options) if "seed" in options.sides else None

    async with _engine(options, log_dir) as (engine, node):
        _log(f"engine {options.engine} on {engine.endpoint}: ceiling, {counts.ceiling} messages")
        report["engine_ceiling"] = await engine_ceiling(engine.options(), counts.ceiling, tag)
        report["engine"] = {"name": options.engine, **report["engine_ceiling"]}
        del report["engine_ceiling"]

        if seed_source is not None:
            install = await asyncio.to_thread(ensure_fauxqs, _log)
            seed_root = await asyncio.to_thread(ensure_seed, seed_source, install, _log)
            seed = SeedSide(
                root=seed_root, node=node, engine=engine, port=_free_port(),
                log_dir=log_dir, tag=tag,
            )  # fmt: skip
            try:
                samples["seed"] = {}
                report["seed"] = await _bench_side(seed, counts, tag, samples["seed"])
            finally:
                await seed.stop()

        if "orderflow" in options.sides:
            async with _databases(options.postgres, tag) as databases:
                ours = OrderflowSide(
                    engine=engine, order_port=_free_port(), payment_port=_free_port(),
                    log_dir=log_dir, tag=tag, databases=databases,
                )  # fmt: skip
                try:
                    samples["orderflow"] = {}
                    report["orderflow"] = await _bench_side(ours, counts, tag, samples["orderflow"])
                finally:
                    await ours.stop()
    report["duration_s"] = round(time.monotonic() - started, 1)
    write_reports(report, samples, options.results_dir / stamp, options.out)
    return report


def run_bench(options: BenchOptions) -> int:
    asyncio.run(_run(options))
    return 0
