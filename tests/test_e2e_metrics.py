"""Both services' /metrics, and `orderflow status`, after a known number of orders.

A system of the test's own (so nothing else adds orders) takes 7 orders that are paid and 3 that
the provider declines. Counts guarded by a database (orders, payments, settlements, the outbox)
must be exact. Deliveries are at-least-once (moto now and then hands a message to two
receivers), so message counts are checked against each other: every delivery was handled, and
payment-service's duplicates are the deliveries beyond one per order.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orderflow_messaging import open_sqs_client
from orderflow_testkit.waiting import wait_for_value

if TYPE_CHECKING:
    from tests.conftest import RunningSystem, StartSystem

pytestmark = pytest.mark.e2e

PAID: Final = 7
DECLINED: Final = 3
ORDERS: Final = PAID + DECLINED
ORDER_CREATED: Final = "orderflow.order.created.v1"
PAYMENT_SUCCEEDED: Final = "orderflow.payment.succeeded.v1"
PAYMENT_FAILED: Final = "orderflow.payment.failed.v1"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, base_url: str) -> Samples:
    response = await http.get(f"{base_url}/metrics", follow_redirects=True)
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; a series never touched is 0, as PromQL's `or vector(0)` makes it."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` that has at least `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and wanted <= lbls)


async def place_orders(http: httpx.AsyncClient, base_url: str) -> list[str]:
    bodies = [{"userId": "metrics", "total": "42.00"}] * PAID
    bodies += [{"userId": "metrics", "total": "20000.00"}] * DECLINED
    responses = await asyncio.gather(*(http.post(f"{base_url}/orders", json=b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * ORDERS
    return [str(r.json()["id"]) for r in responses]


async def wait_until_settled(system: RunningSystem) -> None:
    async def pending() -> int:
        rows = system.query("order-service", "SELECT count(*) FROM orders WHERE status='pending'")
        return int(rows[0][0])

    await wait_for_value(pending, lambda n: n == 0, timeout_s=30, what="every order settled")


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return (name, frozenset(labels.items()))


async def wait_until_sampled_idle(
    http: httpx.AsyncClient, system: RunningSystem
) -> tuple[Samples, Samples]:
    """Scrape until the samplers have seen every queue and outbox empty; return the scrapes."""

    async def readings() -> tuple[Samples, Samples, list[float | None]]:
        order, payment = await asyncio.gather(
            scrape(http, system.order_url), scrape(http, system.payment_url)
        )
        depth = "orderflow_queue_messages"
        gauges = [
            order.get(key("orderflow_outbox_backlog", service="order-service")),
            payment.get(key("orderflow_outbox_backlog", service="payment-service")),
            *(
                order.get(key(depth, queue="payment-results", state=s))
                for s in ("visible", "in_flight")
            ),
            *(payment.get(key(depth, queue="orders", state=s)) for s in ("visible", "in_flight")),
            order.get(key(depth, queue="payment-results-dlq", state="visible")),
            payment.get(key(depth, queue="orders-dlq", state="visible")),
        ]
        return order, payment, gauges

    def settled(scrapes: tuple[Samples, Samples, list[float | None]]) -> bool:
        order, payment, gauges = scrapes
        # A sample may predate the last messages: the counters must have caught up too.
        caught_up = all(
            total(s, "orderflow_messages_handled_total")
            == total(s, "orderflow_messages_received_total")
            >= ORDERS
            for s in (order, payment)
        )
        return caught_up and all(g == 0 for g in gauges)

    order, payment, _ = await wait_for_value(
        readings, settled, timeout_s=30, what="queues and outboxes sampled empty"
    )
    return order, payment


def run_status(system: RunningSystem) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(ORDER_SERVICE_URL=system.order_url, PAYMENT_SERVICE_URL=system.payment_url)
    result = subprocess.run(
        [sys.executable, "-m", "orderflow_cli", "status", "--once", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    snapshot: dict[str, Any] = json.loads(result.stdout)
    return snapshot


def by_queue(snapshot: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["queue"]: q for q in snapshot["queues"]}


async def test_after_7_paid_and_3_declined_orders_both_metrics_endpoints_count_exactly(
    start_orderflow: StartSystem,
) -> None:
    system = start_orderflow({"METRICS_SAMPLE_INTERVAL_S": "0.2"})
    async with httpx.AsyncClient(timeout=10) as http:
        await place_orders(http, system.order_url)
        await wait_until_settled(system)
        order, payment = await wait_until_sampled_idle(http, system)

    # order-service: orders, settlements and their end-to-end latency, HTTP, its outbox.
    assert value(order, "orderflow_orders_created_total") == ORDERS
    assert value(order, "orderflow_orders_settled_total", status="paid") == PAID
    assert value(order, "orderflow_orders_settled_total", status="payment_failed") == DECLINED
    latency = "orderflow_order_settlement_seconds_count"
    assert value(order, latency, status="paid") == PAID
    assert value(order, latency, status="payment_failed") == DECLINED
    post = {"service": "order-service", "method": "POST", "route": "/orders"}
    assert value(order, "orderflow_http_requests_total", **post, status="201") == ORDERS
    assert total(order, "orderflow_http_requests_total", **post) == ORDERS
    assert value(order, "orderflow_http_request_duration_seconds_count", **post) == ORDERS
    published = {"service": "order-service", "queue": "orders"}
    assert value(order, "orderflow_messages_published_total", **published, outcome="sent") == ORDERS
    assert value(order, "orderflow_messages_published_total", **published, outcome="failed") == 0

    # payment-service: payments, provider calls, its outbox.
    assert value(payment, "orderflow_payments_total", status="succeeded") == PAID
    assert value(payment, "orderflow_payments_total", status="failed") == DECLINED
    assert value(payment, "orderflow_payment_events_total", outcome="paid") == ORDERS
    provider = "orderflow_payment_provider_seconds_count"
    assert value(payment, provider, outcome="approved") >= PAID
    assert value(payment, provider, outcome="declined") >= DECLINED
    assert value(payment, provider, outcome="error") == 0
    results = {"service": "payment-service", "queue": "payment-results"}
    assert value(payment, "orderflow_messages_published_total", **results, outcome="sent") == ORDERS

    # Messages: every delivery handled successfully, none retried or dead-lettered.
    for samples, service, queue, types in (
        (payment, "payment-service", "orders", {ORDER_CREATED: ORDERS}),
        (
            order,
            "order-service",
            "payment-results",
            {PAYMENT_SUCCEEDED: PAID, PAYMENT_FAILED: DECLINED},
        ),
    ):
        for event_type, expected in types.items():
            labels = {"service": service, "queue": queue, "event_type": event_type}
            received = value(samples, "orderflow_messages_received_total", **labels)
            handled = value(
                samples, "orderflow_messages_handled_total", **labels, outcome="succeeded"
            )
            assert handled == received >= expected, (service, event_type)
            assert (
                value(samples, "orderflow_message_handler_duration_seconds_count", **labels)
                == received
            )
        for outcome in ("retried", "dead_lettered"):
            assert (
                total(samples, "orderflow_messages_handled_total", service=service, outcome=outcome)
                == 0
            )
    handled_orders = value(
        payment,
        "orderflow_messages_handled_total",
        service="payment-service",
        queue="orders",
        event_type=ORDER_CREATED,
        outcome="succeeded",
    )
    extra_deliveries = total(payment, "orderflow_payment_events_total") - ORDERS
    assert handled_orders == ORDERS + extra_deliveries

    # `orderflow status --once --json` reads the same numbers.
    snapshot = run_status(system)
    assert {name: s["up"] for name, s in snapshot["services"].items()} == {
        "order-service": True,
        "payment-service": True,
    }
    assert snapshot["orders"]["created"] == ORDERS
    assert snapshot["orders"]["settled"] == {"paid": PAID, "payment_failed": DECLINED}
    assert snapshot["orders"]["per_second"] is None  # one snapshot has no rate
    p50, p99 = (snapshot["orders"]["settlement_seconds"][p] for p in ("p50", "p99"))
    assert 0 < p50 <= p99
    queues = by_queue(snapshot)
    assert queues.keys() == {"orders", "payment-results"}
    assert queues["orders"] == {
        "queue": "orders",
        "consumer": "payment-service",
        "visible": 0,
        "in_flight": 0,
        "delayed": 0,
        "dlq": "orders-dlq",
        "dlq_visible": 0,
    }
    assert queues["payment-results"]["consumer"] == "order-service"
    assert {o["service"]: o["backlog"] for o in snapshot["outbox"]} == {
        "order-service": 0,
        "payment-service": 0,
    }


async def test_status_shows_a_poison_message_in_the_dead_letter_queue(
    orderflow_system: RunningSystem,
) -> None:
    async with open_sqs_client(orderflow_system.sqs_options) as sqs:
        url = (await sqs.get_queue_url(QueueName="payment-results"))["QueueUrl"]
        await sqs.send_message(QueueUrl=url, MessageBody="{not json")

    def dead_letters() -> int | None:
        queue = by_queue(run_status(orderflow_system)).get("payment-results", {})
        dlq: int | None = queue.get("dlq_visible")
        return dlq

    async def probe() -> int | None:
        return await asyncio.to_thread(dead_letters)

    await wait_for_value(probe, lambda n: bool(n), timeout_s=30, what="the DLQ in the status")
    async with open_sqs_client(orderflow_system.sqs_options) as sqs:
        dlq = (await sqs.get_queue_url(QueueName="payment-results-dlq"))["QueueUrl"]
        await sqs.purge_queue(QueueUrl=dlq)
