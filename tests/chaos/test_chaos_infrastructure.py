"""The infrastructure failing under load: SQS frozen, the database connection cut."""

from __future__ import annotations

import asyncio

import pytest

from orderflow_testkit.chaos import ChaosLab
from orderflow_testkit.options import SystemOptions

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

ORDERS = 240
SQS_FREEZE_S = 5.0
DATABASE_CUT_S = 2.0


async def test_chaos_sqs_frozen_while_orders_keep_coming_in_loses_no_order(
    chaos: ChaosLab,
) -> None:
    system = await chaos.start()
    load = system.load(ORDERS)
    placing = asyncio.create_task(load.run())
    await load.wait_accepted(ORDERS // 3)

    system.sqs_engine.freeze()
    try:
        before = len(load.accepted)
        await asyncio.sleep(SQS_FREEZE_S)  # the fault itself: SQS answers nothing meanwhile
        accepted_while_frozen = len(load.accepted) - before
        waiting = await system.fetchval(
            "order", "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
    finally:
        system.sqs_engine.thaw()

    assert accepted_while_frozen > 0  # POST /orders never waits on SQS
    assert waiting > 0  # ... so the outbox holds what could not be published
    report = await placing
    result = await system.settle(f"SQS frozen {SQS_FREEZE_S:g} s (SIGSTOP)", report)
    assert result.ok, result.explain()


async def test_chaos_database_connection_cut_loses_no_order_and_pays_none_twice(
    chaos: ChaosLab,
) -> None:
    system = await chaos.start(SystemOptions(database_proxy=True))
    proxy = system.db_proxy
    assert proxy is not None
    load = system.load(ORDERS)
    placing = asyncio.create_task(load.run())
    await load.wait_accepted(ORDERS // 3)

    with proxy.outage():
        await asyncio.sleep(DATABASE_CUT_S)  # the fault itself: every connection dropped

    report = await placing
    assert report.retries > 0  # requests did fail during the cut, and were retried
    result = await system.settle(f"database connection cut {DATABASE_CUT_S:g} s", report)
    assert result.ok, result.explain()
