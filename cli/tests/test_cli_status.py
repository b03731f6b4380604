"""`orderflow status`: reading /metrics into a snapshot, percentiles, rendering, services down.

The end-to-end check against a running system (exact numbers) is tests/test_e2e_metrics.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from rich.console import Console

from orderflow_cli.main import run
from orderflow_cli.status import (
    OrdersState,
    ServiceState,
    Snapshot,
    parse_metrics,
    quantile,
    take_snapshot,
)
from orderflow_cli.status_command import service_urls
from orderflow_cli.status_view import duration, render
from orderflow_testkit.waiting import free_port


def order_service_metrics(created: int, settled: dict[str, list[float]]) -> str:
    """/metrics text as order-service writes it, from a registry of the test's own."""
    registry = CollectorRegistry()
    Counter("orderflow_orders_created", "", registry=registry).inc(created)
    settled_total = Counter("orderflow_orders_settled", "", ["status"], registry=registry)
    latency = Histogram(
        "orderflow_order_settlement_seconds",
        "",
        ["status"],
        buckets=(0.1, 0.5, 1.0, 5.0),
        registry=registry,
    )
    for status, seconds in settled.items():
        for s in seconds:
            settled_total.labels(status).inc()
            latency.labels(status).observe(s)
    depth = Gauge("orderflow_queue_messages", "", ["queue", "state"], registry=registry)
    for queue, state, value in [
        ("payment-results", "visible", 4),
        ("payment-results", "in_flight", 2),
        ("payment-results", "delayed", 1),
        ("payment-results-dlq", "visible", 3),
        ("payment-results-dlq", "in_flight", 0),
    ]:
        depth.labels(queue, state).set(value)
    Gauge("orderflow_outbox_backlog", "", ["service"], registry=registry).labels(
        "order-service"
    ).set(12)
    Gauge("orderflow_outbox_oldest_age_seconds", "", ["service"], registry=registry).labels(
        "order-service"
    ).set(7.5)
    return generate_latest(registry).decode()


def serving(texts: dict[str, str]) -> httpx.AsyncClient:
    """A client whose requests to http://HOST/metrics get `texts[HOST]` (others: refused)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host not in texts:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, text=texts[request.url.host])

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


URLS = {"order-service": "http://orders", "payment-service": "http://payments"}


def test_quantiles_interpolate_within_a_bucket_as_promql_does() -> None:
    buckets = [(0.1, 0.0), (0.5, 5.0), (1.0, 10.0), (float("inf"), 10.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.5)
    assert quantile(0.25, buckets) == pytest.approx(0.3)
    assert quantile(0.99, buckets) == pytest.approx(0.99)
    assert quantile(0.5, [(1.0, 0.0), (float("inf"), 0.0)]) is None
    assert quantile(0.5, []) is None
    # Past the last finite bound: the bound, as histogram_quantile answers.
    assert quantile(0.9, [(1.0, 1.0), (float("inf"), 10.0)]) == 1.0


async def test_a_snapshot_reads_queues_dlqs_outbox_orders_and_latency() -> None:
    text = order_service_metrics(10, {"paid": [0.2, 0.3, 0.4, 0.6], "payment_failed": [2.0]})
    async with serving({"orders": text}) as client:
        snapshot = await take_snapshot(client, URLS)

    assert [(s.name, s.up, s.error) for s in snapshot.services] == [
        ("order-service", True, None),
        ("payment-service", False, "not reachable"),
    ]
    [queue] = snapshot.queues
    assert (queue.queue, queue.consumer, queue.dlq) == (
        "payment-results",
        "order-service",
        "payment-results-dlq",
    )
    assert (queue.visible, queue.in_flight, queue.delayed, queue.dlq_visible) == (4, 2, 1, 3)
    [outbox] = snapshot.outbox
    assert (outbox.service, outbox.backlog, outbox.oldest_age_seconds) == ("order-service", 12, 7.5)
    orders = snapshot.orders
    assert (orders.created, orders.per_second) == (10, None)
    assert orders.settled == {"paid": 4, "payment_failed": 1}
    # 2.5 of 5 observations: within (0.1, 0.5], which holds 3 of them.
    assert orders.settlement_seconds["p50"] == pytest.approx(0.1 + 0.4 * 2.5 / 3)
    assert orders.settlement_seconds["p99"] == pytest.approx(4.8)


async def test_orders_per_second_is_the_rate_between_two_snapshots() -> None:
    async with serving({"orders": order_service_metrics(10, {})}) as client:
        first = await take_snapshot(client, URLS)
    earlier = Snapshot(
        taken_at=first.taken_at - timedelta(seconds=4),
        services=first.services,
        queues=first.queues,
        outbox=first.outbox,
        orders=OrdersState(created=2),
    )
    async with serving({"orders": order_service_metrics(10, {})}) as client:
        second = await take_snapshot(client, URLS, earlier)
    assert second.orders.per_second == pytest.approx(2.0, rel=0.05)

    restarted = Snapshot(
        taken_at=earlier.taken_at,
        services=[],
        queues=[],
        outbox=[],
        orders=OrdersState(created=50),
    )
    async with serving({"orders": order_service_metrics(10, {})}) as client:
        after_restart = await take_snapshot(client, URLS, restarted)
    assert after_restart.orders.per_second is None  # a counter that went back: no rate


async def test_a_service_answering_garbage_or_an_error_is_down_with_the_reason() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "orders":
            return httpx.Response(503, text="starting")
        return httpx.Response(200, text="this is { not metrics")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        snapshot = await take_snapshot(client, URLS)
    errors = {s.name: (s.up, s.error) for s in snapshot.services}
    assert errors["order-service"] == (False, "HTTP 503")
    assert errors["payment-service"][0] is False
    assert str(errors["payment-service"][1]).startswith("unreadable /metrics")
    assert (snapshot.queues, snapshot.outbox, snapshot.orders.created) == ([], [], None)


def test_the_json_form_has_plain_values_and_a_utc_time() -> None:
    samples = parse_metrics(order_service_metrics(3, {"paid": [0.2]}))
    assert any(s.name == "orderflow_orders_created_total" and s.value == 3 for s in samples)
    snapshot = Snapshot(
        taken_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        services=[ServiceState(name="order-service", url="http://o", up=True)],
        queues=[],
        outbox=[],
        orders=OrdersState(created=3, settled={"paid": 1}, settlement_seconds={"p50": 0.2}),
    )
    assert json.loads(json.dumps(snapshot.as_json())) == {
        "time": "2025-01-02T03:04:05Z",
        "services": {"order-service": {"url": "http://o", "up": True, "error": None}},
        "queues": [],
        "outbox": [],
        "orders": {
            "created": 3,
            "per_second": None,
            "settled": {"paid": 1},
            "settlement_seconds": {"p50": 0.2},
        },
    }


async def test_the_view_shows_queues_dead_letters_backlog_latency_and_who_is_down() -> None:
    text = order_service_metrics(10, {"paid": [0.2, 0.3], "payment_failed": [2.0]})
    async with serving({"orders": text}) as client:
        snapshot = await take_snapshot(client, URLS)
    console = Console(record=True, width=100, color_system=None)

    console.print(render(snapshot, interval_s=2))

    screen = " ".join(console.export_text().split())  # the words, whatever the column widths
    assert "every 2 s (Ctrl-C quits)" in screen
    assert "payment-service down: not reachable http://payments" in screen
    assert "payment-results 4 2 1 3 order-service" in screen
    assert "payment-service is down: its queues are unknown" in screen
    assert "order-service 12 7.5 s" in screen
    assert "created 10 · paid 2 · payment_failed 1" in screen
    assert "Settlement latency p50 400 ms · p95 4.4 s · p99 4.9 s" in screen


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0.0123, "12 ms"), (4.25, "4.2 s"), (200, "3m 20s"), (7500, "2h 05m")],
)
def test_durations_read_like_a_person_would_write_them(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_service_urls_come_from_the_environment_or_default_to_localhost() -> None:
    assert service_urls({}) == {
        "order-service": "http://127.0.0.1:3001",
        "payment-service": "http://127.0.0.1:3002",
    }
    assert service_urls({"ORDER_SERVICE_URL": "https://orders.example"})["order-service"] == (
        "https://orders.example"
    )


def test_a_url_that_is_not_http_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from orderflow_cli.errors import CliError

    with pytest.raises(CliError, match="ORDER_SERVICE_URL must be an http"):
        service_urls({"ORDER_SERVICE_URL": "orders:3001"})


def test_an_interval_of_zero_is_refused() -> None:
    with pytest.raises(SystemExit) as exc:
        run(["status", "--interval", "0"])
    assert exc.value.code == 2


def status_process(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.update(
        ORDER_SERVICE_URL=f"http://127.0.0.1:{free_port()}",
        PAYMENT_SERVICE_URL=f"http://127.0.0.1:{free_port()}",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "orderflow_cli", "status", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_once_json_with_nothing_running_reports_both_services_down_and_exits_0() -> None:
    process = status_process("--once", "--json")
    out, err = process.communicate(timeout=60)

    assert process.returncode == 0, err
    snapshot = json.loads(out)
    assert {name: (s["up"], s["error"]) for name, s in snapshot["services"].items()} == {
        "order-service": (False, "not reachable"),
        "payment-service": (False, "not reachable"),
    }
    assert snapshot["queues"] == snapshot["outbox"] == []


def test_json_without_once_prints_one_snapshot_per_refresh() -> None:
    process = status_process("--json", "--interval", "0.2")
    try:
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(3)]
    finally:
        process.terminate()
        process.wait(timeout=30)
    times = [datetime.fromisoformat(line["time"]) for line in lines]
    assert times == sorted(times)
    assert len(set(times)) == 3
