"""Sending messages with SendMessageBatch: ten per call, within SQS's size limit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from orderflow_messaging._exceptions import SQS_ERRORS
from orderflow_messaging._message import OutgoingMessage

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

MAX_BATCH_ENTRIES: Final = 10
MAX_MESSAGE_BYTES: Final = 256 * 1024
"""SQS's limit on one message, and on one batch request, counting bodies and attributes."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """Which messages SQS accepted, and why the others were not."""

    sent: list[str]
    failed: dict[str, str]


class Publisher(Protocol):
    async def send(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> SendResult: ...


def message_size(message: OutgoingMessage) -> int:
    """The size SQS counts: body plus every attribute's name, type and value."""
    size = len(message.body.encode("utf-8"))
    for name, value in message.attributes.items():
        size += len(name.encode()) + len(b"String") + len(value.encode())
    return size


def _batches(messages: Sequence[OutgoingMessage]) -> Iterator[list[OutgoingMessage]]:
    batch: list[OutgoingMessage] = []
    batch_bytes = 0
    for message in messages:
        size = message_size(message)
        if batch and (len(batch) == MAX_BATCH_ENTRIES or batch_bytes + size > MAX_MESSAGE_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(message)
        batch_bytes += size
    if batch:
        yield batch


def _entry(index: int, message: OutgoingMessage) -> SendMessageBatchRequestEntryTypeDef:
    # The entry id is the position: SQS allows only [A-Za-z0-9_-]{1,80} there, message ids may
    # be anything.
    entry: SendMessageBatchRequestEntryTypeDef = {
        "Id": str(index),
        "MessageBody": message.body,
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value}
            for name, value in message.attributes.items()
        },
    }
    if message.group_id is not None:
        entry["MessageGroupId"] = message.group_id
        entry["MessageDeduplicationId"] = message.id
    return entry


class SqsPublisher:
    """Sends messages in batches of up to ten.

    The batches of one call go out concurrently, except when messages carry a group id (a FIFO
    queue): then one after another, in order, and once a message of a group failed the rest of
    its group in this call is not sent (reported failed), so that no later message overtakes it.
    """

    def __init__(self, client: SQSClient) -> None:
        self._client = client

    async def send(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> SendResult:
        sent: list[str] = []
        failed: dict[str, str] = {}
        oversized = [m for m in messages if message_size(m) > MAX_MESSAGE_BYTES]
        for message in oversized:
            failed[message.id] = f"message is larger than {MAX_MESSAGE_BYTES} bytes"
        sendable = [m for m in messages if message_size(m) <= MAX_MESSAGE_BYTES]
        if any(m.group_id is not None for m in messages):
            results = await self._send_in_order(queue_url, messages, sendable)
        else:
            results = await asyncio.gather(
                *(self._send_batch(queue_url, batch) for batch in _batches(sendable))
            )
        for batch_sent, batch_failed in results:
            sent.extend(batch_sent)
            failed.update(batch_failed)
        return SendResult(sent=sent, failed=failed)

    async def _send_in_order(
        self,
        queue_url: str,
        messages: Sequence[OutgoingMessage],
        sendable: list[OutgoingMessage],
    ) -> list[tuple[list[str], dict[str, str]]]:
        position = {id(m): i for i, m in enumerate(messages)}
        # group -> position of its first message that failed (oversized ones fail before sending)
        failed_at: dict[str, int] = {}
        for i, m in enumerate(messages):
            if m.group_id is not None and message_size(m) > MAX_MESSAGE_BYTES:
                failed_at.setdefault(m.group_id, i)

        def behind_a_failure(m: OutgoingMessage) -> bool:
            first_failed = failed_at.get(m.group_id) if m.group_id is not None else None
            return first_failed is not None and position[id(m)] > first_failed

        results: list[tuple[list[str], dict[str, str]]] = []
        for batch in _batches(sendable):
            held = {
                m.id: "not sent: an earlier message of its group failed"
                for m in batch
                if behind_a_failure(m)
            }
            ready = [m for m in batch if m.id not in held]
            sent, failed = await self._send_batch(queue_url, ready) if ready else ([], {})
            for m in ready:
                if m.id in failed and m.group_id is not None:
                    failed_at.setdefault(m.group_id, position[id(m)])
            failed.update(held)
            results.append((sent, failed))
        return results

    async def _send_batch(
        self, queue_url: str, batch: list[OutgoingMessage]
    ) -> tuple[list[str], dict[str, str]]:
        try:
            response = await self._client.send_message_batch(
                QueueUrl=queue_url, Entries=[_entry(i, m) for i, m in enumerate(batch)]
            )
        except SQS_ERRORS as exc:
            return [], {m.id: f"{type(exc).__name__}: {exc}" for m in batch}
        sent = [batch[int(entry["Id"])].id for entry in response.get("Successful", [])]
        failed = {
            batch[int(entry["Id"])].id: f"{entry.get('Code', 'error')}: {entry.get('Message', '')}"
            for entry in response.get("Failed", [])
        }
        return sent, failed
