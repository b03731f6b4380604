"""`orderflow bench`'s parts, each on something small and real (no full benchmark here)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from orderflow_cli.errors import CliError
from orderflow_devtools.bench.ceiling import engine_ceiling
from orderflow_devtools.bench.load import closed_loop, open_loop, order_body, percentile, summary
from orderflow_devtools.bench.procs import Proc
from orderflow_devtools.bench.report import write_reports
from orderflow_devtools.bench.run import BenchOptions, find_seed
from orderflow_messaging import SqsClientOptions
from orderflow_testkit.waiting import free_port


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 99) == 0.0
    assert summary([3.0, 1.0, 2.0]) == {"p50_ms": 2.0, "p90_ms": 3.0, "p99_ms": 3.0, "max_ms": 3.0}


async def _order_server(fail_every: int = 0) -> tuple[web.AppRunner, int, dict[str, int]]:
    seen = {"requests": 0, "in_flight": 0, "max_in_flight": 0}

    async def create(request: web.Request) -> web.Response:
        seen["requests"] += 1
        number = seen["requests"]
        seen["in_flight"] += 1
        seen["max_in_flight"] = max(seen["max_in_flight"], seen["in_flight"])
        body = await request.json()
        await asyncio.sleep(0.002)
        seen["in_flight"] -= 1
        if fail_every and number % fail_every == 0:
            return web.json_response({"title": "no"}, status=503)
        return web.json_response({"orderId": str(number), **body}, status=201)

    app = web.Application()
    app.router.add_post("/orders", create)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port, seen


async def test_closed_loop_sends_the_count_at_the_given_concurrency_and_counts_failures() -> None:
    runner, port, seen = await _order_server(fail_every=10)
    try:
        url = f"http://127.0.0.1:{port}/orders"
        result = await closed_loop(url, order_body("u1"), 200, concurrency=8, keep_orders=True)
    finally:
        await runner.cleanup()
    assert seen["requests"] == 200
    assert seen["max_in_flight"] == 8
    assert result.ok == 180
    assert result.errors == 20
    assert len(result.orders) == 180
    assert result.orders[0]["userId"] == "u1"
    assert result.rps > 0


async def test_open_loop_paces_requests_at_the_offered_rate() -> None:
    runner, port, _ = await _order_server()
    try:
        url = f"http://127.0.0.1:{port}/orders"
        result = await open_loop(url, order_body("u2"), 40, rate_per_s=200)
    finally:
        await runner.cleanup()
    assert result.ok == 40
    assert 0.18 <= result.duration_s < 2.0  # 40 requests at 200/s: about 0.2 s


async def test_proc_reports_cpu_time_and_peak_memory_of_its_child(tmp_path: Path) -> None:
    # Busy for 0.4 s of CPU, not of wall time: on a shared machine the child may get less.
    busy = "import time\nx = bytearray(40 * 2**20)\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\ntime.sleep(30)"  # noqa: E501
    proc = Proc("busy", [sys.executable, "-c", busy], env={}, cwd=tmp_path, log_dir=tmp_path)
    await proc.start()
    try:
        for _ in range(100):
            if proc.cpu_seconds() >= 0.3:
                break
            await asyncio.sleep(0.05)
        assert proc.cpu_seconds() >= 0.3
        assert proc.sample_rss() >= 40
    finally:
        await proc.stop()
    assert not proc.running()


async def test_engine_ceiling_moves_every_message(sqs_options: SqsClientOptions) -> None:
    result = await engine_ceiling(sqs_options, 100, "ceilingtest")
    assert result["ceiling_messages"] == 100
    assert result["ceiling_msgs_per_s"] > 0


def _side(rps: float, p99: float, e2e: float, e2e100: float) -> dict[str, Any]:
    return {
        "api": {"rps": rps, "p50_ms": 10.0, "p90_ms": 20.0, "p99_ms": p99, "max_ms": 90.0},
        "e2e_0ms": {"orders_per_s": e2e, "p50_ms": 50.0, "p99_ms": 200.0},
        "e2e_0ms_half_rate": {"offered_per_s": e2e / 2, "p99_ms": 120.0},
        "e2e_100ms": {"orders_per_s": e2e100, "p99_ms": 900.0},
        "cost": {"cpu_s_per_1000_orders": 2.0, "rss_mb_max": {"a": 100.0, "b": 120.0}},
    }


def test_reports_hold_the_issue_keys_a_table_a_chart_and_the_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_OUT", str(tmp_path / "out" / "bench.json"))
    report: dict[str, Any] = {
        "engine": {"name": "fauxqs", "ceiling_msgs_per_s": 3000.0},
        "load_before": [0.5, 0.6, 0.7],
        "orderflow": _side(1200.0, 50.0, 600.0, 400.0),
        "seed": _side(1100.0, 70.0, 550.0, 9.6),
    }
    samples = {
        "orderflow": {"api": [1.0, 2.0, 3.0], "e2e_0ms": [10.0, 20.0]},
        "seed": {"api": [2.0, 3.0], "e2e_0ms": [5.0, 50.0]},
    }

    table = write_reports(report, samples, tmp_path / "results" / "run", None)

    written = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert written == json.loads((tmp_path / "results" / "run.json").read_text())
    for side in ("orderflow", "seed"):
        for group, key in (("api", "rps"), ("api", "p99_ms"), ("e2e_0ms", "orders_per_s")):
            assert isinstance(written[side][group][key], float)
        assert written[side]["e2e_100ms"]["p99_ms"] == 900.0
    assert written["engine"]["ceiling_msgs_per_s"] == 3000.0
    assert written["cost"] == {"cpu_s_per_1000_orders": 2.0, "rss_mb_max": {"a": 100.0, "b": 120.0}}
    assert written["load_before"] == [0.5, 0.6, 0.7]
    holds = {t["target"]: t["holds"] for t in written["targets"]}
    assert holds["e2e_100ms.orders_per_s >= 20x the seed's"] is True
    assert holds["api.rps >= the seed's, with a lower api.p99_ms"] is True
    assert "| api: POST /orders per s (concurrency 32) | 1,200 | 1,100 |" in table
    assert (tmp_path / "results" / "run.md").read_text() == table
    assert (tmp_path / "results" / "run.png").read_bytes()[:4] == b"\x89PNG"


def test_the_seed_is_found_in_the_baselines_folder_the_option_or_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = tmp_path / "shared" / "baselines" / "seed-node"
    seed.mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    monkeypatch.delenv("SEED_DIR", raising=False)
    monkeypatch.delenv("BENCH_BASELINES", raising=False)
    monkeypatch.chdir(tmp_path / "repo")
    assert find_seed(BenchOptions()).resolve() == seed  # the default, from the repository root
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CliError, match="--baselines DIR or set BENCH_BASELINES"):
        find_seed(BenchOptions())  # no walking up or down the tree
    assert find_seed(BenchOptions(baselines=seed.parent)) == seed
    monkeypatch.setenv("BENCH_BASELINES", str(seed.parent))
    assert find_seed(BenchOptions()) == seed
    monkeypatch.setenv("SEED_DIR", "/elsewhere")
    assert find_seed(BenchOptions()) == Path("/elsewhere")
