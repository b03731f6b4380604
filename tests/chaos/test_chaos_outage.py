"""A database outage longer than the consumers' retries: nothing may end in a DLQ.

Retrying by receive count (1, 2, 4, 8, 16 s) runs out of SQS's five receives in 15 to 30 s, so
an outage that long used to move valid events to the DLQ and leave their orders pending. The
consumers' circuit breaker stops receiving until the database answers again instead.
"""

from __future__ import annotations

import asyncio

import pytest

from orderflow_testkit.chaos import ChaosLab
from orderflow_testkit.options import SystemOptions

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

ORDERS = 100
OUTAGE_S = 25.0
# Handlers still charging when the connection goes: their events are mid-retry for the outage.
OPTIONS = SystemOptions(database_proxy=True, payment_latency_ms=200)


async def test_chaos_database_outage_of_25_s_sends_nothing_to_the_dlq_and_loses_no_order(
    chaos: ChaosLab,
) -> None:
    system = await chaos.start(OPTIONS)
    proxy = system.db_proxy
    assert proxy is not None
    load = system.load(ORDERS)
    placing = asyncio.create_task(load.run())
    await load.wait_accepted(ORDERS // 3)

    with proxy.outage():
        await asyncio.sleep(OUTAGE_S)  # the fault itself: both databases unreachable
    report = await placing

    assert report.retries > 0  # requests met the outage (503s) and were retried
    result = await system.settle(f"database outage {OUTAGE_S:g} s", report)
    assert result.ok, result.explain()
    worker, order_service = system.payments[0], system.order_service
    # The worker met the outage with events in hand: it paused receiving, and resumed.
    log = worker.log_path.read_text(errors="replace")
    assert "circuit open" in log, worker.tail()
    assert "circuit closed" in log, worker.tail()
    # The API answered the outage with one-line 503s, never a traceback.
    for process in (worker, order_service):
        assert "Traceback" not in process.log_path.read_text(errors="replace"), process.tail(80)
