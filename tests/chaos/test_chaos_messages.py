"""Messages that misbehave: every event delivered twice, poison in the stream."""

from __future__ import annotations

import asyncio
import json

import pytest

from orderflow_testkit.chaos import ChaosLab, read_metric
from orderflow_testkit.duplicates import DuplicateInjector
from orderflow_testkit.results import InjectedPoison
from orderflow_testkit.waiting import wait_for_value

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

ORDERS = 240


def _event(event_type: str, data: object, n: int) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"0190f0f0-0000-7000-8000-{n:012d}",
            "source": "/chaos/poison",
            "type": event_type,
            "time": "2026-01-01T00:00:00Z",
            "datacontenttype": "application/json",
            "data": data,
        }
    )


CREATED = "orderflow.order.created.v1"
POISON = [
    InjectedPoison("{not json", "invalid_json"),
    InjectedPoison(" ", "invalid_json"),
    InjectedPoison("<order id='1'/>", "invalid_json"),
    InjectedPoison('{"specversion": "1.0", "id": ', "invalid_json"),
    InjectedPoison(_event("orderflow.order.cancelled.v1", {"orderId": "x"}, 1), "unknown_type"),
    InjectedPoison(_event("com.example.stranger.v1", {}, 2), "unknown_type"),
    InjectedPoison(json.dumps({"hello": "world"}), "unknown_type"),
    InjectedPoison(_event(CREATED, {"userId": "u1"}, 3), "schema_violation"),
    InjectedPoison(
        _event(
            CREATED,
            {
                "orderId": "not-a-uuid",
                "userId": "u1",
                "total": "-5",
                "currency": "USD",
                "createdAt": "2026-01-01T00:00:00Z",
            },
            4,
        ),
        "schema_violation",
    ),
    InjectedPoison(json.dumps([1, 2, 3]), "schema_violation"),
]


async def test_chaos_every_event_delivered_twice_pays_each_order_once(chaos: ChaosLab) -> None:
    system = await chaos.start()
    injector = DuplicateInjector(system)
    injecting = asyncio.create_task(injector.run())
    report = await system.load(ORDERS).run()

    async def unfinished() -> int:
        pending = await system.fetchval(
            "order", "SELECT count(*) FROM orders WHERE status = 'pending'"
        )
        unpublished = sum(
            [
                await system.fetchval(db, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
                for db in ("order", "payment")
            ]
        )
        return pending + unpublished

    # Every order settled and every row published: each event has had its first delivery.
    await wait_for_value(unfinished, lambda n: n == 0, timeout_s=90, what="orders settled")
    injector.stop()
    await injecting
    await injector.sweep()
    assert injector.sent == {"order": len(report.accepted), "payment": len(report.accepted)}
    await system.wait_quiet(report)
    worker = system.payments[0].url
    paid = await read_metric(worker, "orderflow_payment_events_total", outcome="paid")
    repeated = await read_metric(
        worker, "orderflow_payment_events_total", outcome="duplicate"
    ) + await read_metric(worker, "orderflow_payment_events_total", outcome="already_paid")

    result = await system.settle("every event delivered twice", report)
    assert result.ok, result.explain()
    assert paid == len(report.accepted)
    assert repeated >= injector.sent["order"]  # each duplicate arrived, and changed nothing


async def test_chaos_poison_messages_go_to_the_dlq_with_their_reason_and_nothing_else(
    chaos: ChaosLab,
) -> None:
    system = await chaos.start()
    load = system.load(ORDERS)
    placing = asyncio.create_task(load.run())
    half = len(POISON) // 2
    await load.wait_accepted(ORDERS // 3)
    await system.send_raw(system.orders_queue, [p.body for p in POISON[:half]])
    await load.wait_accepted(2 * ORDERS // 3)
    await system.send_raw(system.orders_queue, [p.body for p in POISON[half:]])

    report = await placing
    result = await system.settle(f"{len(POISON)} poison messages", report, poison=POISON)
    assert result.ok, result.explain()
    assert result.dlq_count == len(POISON)
