"""Batched deletes: handled messages are deleted ten per DeleteMessageBatch call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from orderflow_messaging._exceptions import SQS_ERRORS
from orderflow_messaging._message import ReceivedMessage

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import DeleteMessageBatchRequestEntryTypeDef

logger = logging.getLogger("orderflow.consumer")

_MAX_ENTRIES = 10


class BatchAcknowledger:
    """Collects handled messages and deletes them in batches, at most `flush_interval_s` late."""

    def __init__(self, client: SQSClient, queue_url: str, flush_interval_s: float) -> None:
        self._client = client
        self._queue_url = queue_url
        self._flush_interval_s = flush_interval_s
        self._pending: list[ReceivedMessage] = []
        self._full = asyncio.Event()
        self._closed = False
        self.deleted = 0

    def ack(self, message: ReceivedMessage) -> None:
        self._pending.append(message)
        if len(self._pending) >= _MAX_ENTRIES:
            self._full.set()

    async def run(self) -> None:
        """Flush whenever a batch is full or the interval passed, until `close()`."""
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._flush_interval_s)
            self._full.clear()
            await self.flush()

    async def close(self) -> None:
        """Stop the loop and delete everything still pending."""
        self._closed = True
        self._full.set()
        await self.flush()

    async def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_MAX_ENTRIES], self._pending[_MAX_ENTRIES:]
            await self._delete(batch)

    async def _delete(self, batch: list[ReceivedMessage]) -> None:
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(batch)
        ]
        try:
            response = await self._client.delete_message_batch(
                QueueUrl=self._queue_url, Entries=entries
            )
        except SQS_ERRORS as exc:
            # The messages reappear after their visibility timeout and the inbox absorbs them.
            logger.warning("delete of %d message(s) failed: %s", len(batch), exc)
            return
        self.deleted += len(response.get("Successful", []))
        for failure in response.get("Failed", []):
            logger.warning("delete failed: %s %s", failure.get("Code"), failure.get("Message"))
