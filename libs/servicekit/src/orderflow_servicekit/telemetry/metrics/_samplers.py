"""Gauges sampled by a background task, every few seconds, never per scrape.

A scrape must stay cheap however often Prometheus (or `orderflow status`) asks: the queue depths
cost SQS calls and the outbox backlog a query, so a background task refreshes them on its own
clock and a scrape reads the last values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from orderflow_messaging import one_line, utcnow
from orderflow_servicekit.telemetry.metrics._instruments import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    QUEUE_MESSAGES,
)

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.literals import QueueAttributeNameType

logger = logging.getLogger("orderflow.metrics")

QUEUE_STATES: Final[Mapping[str, QueueAttributeNameType]] = {
    "visible": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}
"""The state label of `orderflow_queue_messages` and the SQS attribute it comes from."""


async def sample_outbox(engine: AsyncEngine, outbox: Table, service: str) -> None:
    """Set the backlog and the age of the oldest unpublished row, in one query."""
    pending = outbox.c.published_at.is_(None)
    query = select(func.count(), func.min(outbox.c.created_at)).where(pending)
    async with engine.connect() as conn:
        count, oldest = (await conn.execute(query)).one()
    OUTBOX_BACKLOG.labels(service).set(count)
    age = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
    OUTBOX_OLDEST_AGE.labels(service).set(age)


async def sample_queues(client: SQSClient, queues: Mapping[str, str]) -> None:
    """Set visible, in-flight and delayed counts of each queue (name -> URL)."""

    async def one(name: str, url: str) -> None:
        response = await client.get_queue_attributes(
            QueueUrl=url, AttributeNames=list(QUEUE_STATES.values())
        )
        attributes = response.get("Attributes", {})
        for state, attribute in QUEUE_STATES.items():
            QUEUE_MESSAGES.labels(name, state).set(int(attributes.get(attribute, "0")))

    await asyncio.gather(*(one(name, url) for name, url in queues.items()))


@dataclass(slots=True)
class _Complaints:
    """Log a failing source once when it starts failing and once when it recovers."""

    failing: set[str] = field(default_factory=set)

    def failed(self, source: str, exc: BaseException) -> None:
        if source not in self.failing:
            self.failing.add(source)
            logger.warning(
                "sampling %s failed (gauges keep their last value): %s", source, one_line(exc)
            )

    def succeeded(self, source: str) -> None:
        if source in self.failing:
            self.failing.discard(source)
            logger.info("sampling %s works again", source)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sampler:
    """Refreshes the outbox and queue gauges every `interval_s` until cancelled.

    engine / outbox / service: the service's database, its outbox table and its name.
    client / queues: SQS, and the queues to sample by name (the consumed queue and its DLQ).
    interval_s: seconds between two samples (settings: METRICS_SAMPLE_INTERVAL_S, default 5).
    """

    engine: AsyncEngine
    outbox: Table
    service: str
    client: SQSClient
    queues: Mapping[str, str]
    interval_s: float

    async def sample_once(self, complaints: _Complaints | None = None) -> None:
        """One round; a failing source is logged (via `complaints`) and the other still runs."""
        complaints = complaints or _Complaints()
        sources = {
            "the outbox": sample_outbox(self.engine, self.outbox, self.service),
            "the queue depths": sample_queues(self.client, self.queues),
        }
        results = await asyncio.gather(*sources.values(), return_exceptions=True)
        for source, result in zip(sources, results, strict=True):
            if isinstance(result, Exception):
                complaints.failed(source, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                complaints.succeeded(source)

    async def run(self) -> None:
        complaints = _Complaints()
        while True:
            await self.sample_once(complaints)
            # A clock, not a wait for a condition: the next sample is simply due then.
            await asyncio.sleep(self.interval_s)
