"""The duplicate injector of a chaos scenario: every published event delivered twice.

`DuplicateInjector` sweeps both outboxes for rows their relays marked published and sends each
once more, body and attributes as they were, to the queue it went to, so every handler of the
system sees at-least-once delivery at its worst.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter

from orderflow_testkit.system import OrderflowSystem


class DuplicateInjector:
    """Delivers every published event a second time.

    Each OrderCreated row the order-service's relay marked published is sent again, body and
    attributes as they were, to the orders queue; each payment result the payment-service
    published, to the payment-results queue. `sent` counts the duplicates per database.
    """

    def __init__(self, system: OrderflowSystem, interval_s: float = 0.25) -> None:
        self._system = system
        self._interval_s = interval_s
        self._seen: dict[str, set[str]] = {"order": set(), "payment": set()}
        self._stopping = asyncio.Event()
        self.sent: Counter[str] = Counter()

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.sweep()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)

    def stop(self) -> None:
        self._stopping.set()

    async def sweep(self) -> int:
        """Send the rows published since the last sweep once more; return how many."""
        sent = 0
        targets = (
            ("order", self._system.orders_queue),
            ("payment", self._system.results_queue),
        )
        for db, queue in targets:
            seen = self._seen[db]
            rows = await self._system.fetch(
                db,
                "SELECT id, body, attributes FROM outbox "
                "WHERE published_at IS NOT NULL AND NOT (id = ANY($1::text[])) ORDER BY id",
                list(seen),
            )
            for start in range(0, len(rows), 10):
                batch = rows[start : start + 10]
                await self._system.sqs.send_message_batch(
                    QueueUrl=self._system.queue_url(queue),
                    Entries=[
                        {
                            "Id": str(i),
                            "MessageBody": row["body"],
                            "MessageAttributes": {
                                name: {"DataType": "String", "StringValue": value}
                                for name, value in json.loads(row["attributes"]).items()
                            },
                        }
                        for i, row in enumerate(batch)
                    ],
                )
                seen.update(row["id"] for row in batch)
                self.sent[db] += len(batch)
                sent += len(batch)
        return sent
