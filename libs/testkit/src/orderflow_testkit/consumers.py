"""Running a consumer for the length of a test, and stopping it cleanly whatever the test does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from orderflow_messaging import Consumer, ConsumerOptions

# Short long polls: a poll left open on moto after a test would otherwise linger for 20 s.
FAST_CONSUMER = ConsumerOptions(wait_time_s=1, delete_flush_interval_s=0.02)


@asynccontextmanager
async def running_consumer(
    consumer: Consumer, stop_timeout_s: float = 30
) -> AsyncIterator[asyncio.Task[None]]:
    """Run `consumer` in a task; on exit stop it and wait for its drain (a hang fails the test)."""
    task = asyncio.create_task(consumer.run())
    try:
        yield task
    finally:
        consumer.stop()
        await asyncio.wait_for(task, stop_timeout_s)
