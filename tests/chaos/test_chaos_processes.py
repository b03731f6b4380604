"""Processes dying and stopping under load: SIGKILL, SIGTERM, and three workers at once."""

from __future__ import annotations

import asyncio
import signal

import pytest

from orderflow_testkit.chaos import ChaosLab, read_metric
from orderflow_testkit.options import SystemOptions
from orderflow_testkit.system import OrderflowSystem
from orderflow_testkit.waiting import wait_for_value

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

ORDERS = 240
# The provider's latency keeps several handlers mid-charge at any moment, so a signal always
# lands on work in flight (10 handlers at 200 ms each still outrun the load's 30 orders/s).
SLOW_PROVIDER = SystemOptions(payment_latency_ms=200)


async def work_in_flight(system: OrderflowSystem) -> None:
    """Until the payment worker holds received, undeleted order events: a batch in progress."""
    await wait_for_value(
        lambda: system.in_flight(system.orders_queue),
        lambda n: n > 0,
        timeout_s=30,
        interval_s=0.02,
        what="order events in flight",
    )


async def test_chaos_payment_worker_killed_mid_batch_then_restarted_loses_no_order(
    chaos: ChaosLab,
) -> None:
    system = await chaos.start(SLOW_PROVIDER)
    load = system.load(ORDERS)
    placing = asyncio.create_task(load.run())
    await load.wait_accepted(ORDERS // 3)
    await work_in_flight(system)
    worker = system.payments[0]

    assert worker.kill() == -signal.SIGKILL
    await worker.restart()

    report = await placing
    result = await system.settle("payment worker SIGKILL, restarted", report)
    assert result.ok, result.explain()


async def test_chaos_sigterm_on_both_services_with_work_in_flight_exits_0_and_resumes(
    chaos: ChaosLab,
) -> None:
    system = await chaos.start(SLOW_PROVIDER)
    load = system.load(ORDERS)
    placing = asyncio.create_task(load.run())
    await load.wait_accepted(ORDERS // 3)
    await work_in_flight(system)
    order, worker = system.order_service, system.payments[0]

    codes = await asyncio.gather(order.terminate(), worker.terminate())
    assert list(codes) == [0, 0], system.log_tails()
    await asyncio.gather(order.restart(), worker.restart())

    report = await placing
    assert report.retries > 0  # the load did meet the order-service while it was down
    result = await system.settle("SIGTERM on both services, restarted", report)
    assert result.ok, result.explain()


async def test_chaos_three_payment_workers_share_the_queue_without_paying_twice(
    chaos: ChaosLab,
) -> None:
    system = await chaos.start(SystemOptions(payment_workers=3))
    report = await system.load(ORDERS).run()
    await system.wait_quiet(report)
    recorded = [
        await read_metric(worker.url, "orderflow_payments_total", status="succeeded")
        + await read_metric(worker.url, "orderflow_payments_total", status="failed")
        for worker in system.payments
    ]

    result = await system.settle("three payment workers", report)
    assert result.ok, result.explain()
    assert sum(recorded) == len(report.accepted), recorded
    assert sum(1 for n in recorded if n > 0) >= 2, recorded  # the work was shared
