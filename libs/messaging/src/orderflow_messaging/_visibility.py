"""Changing the visibility of received messages, ten per ChangeMessageVisibilityBatch call.

The one way the consumer moves a message's visibility: a heartbeat extending it, a retry setting
its backoff, a shutdown or a held-back FIFO group making it visible again at once (0 s).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from orderflow_messaging._exceptions import SQS_ERRORS
from orderflow_messaging._message import ReceivedMessage

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

logger = logging.getLogger("orderflow.consumer")

MAX_VISIBILITY_S: Final = 43_200
"""SQS's longest visibility timeout (12 hours)."""

_MAX_ENTRIES: Final = 10


async def change_visibility(
    client: SQSClient, queue_url: str, messages: Sequence[ReceivedMessage], timeout_s: int
) -> list[ReceivedMessage]:
    """Hide `messages` for `timeout_s` from now (0: visible at once); return those that failed.

    Failures are logged, never raised: a message whose change failed keeps its current
    visibility, which is always safe (it reappears when that runs out).
    """
    timeout_s = max(0, min(timeout_s, MAX_VISIBILITY_S))
    chunks = [messages[i : i + _MAX_ENTRIES] for i in range(0, len(messages), _MAX_ENTRIES)]
    results = await asyncio.gather(
        *(_change_chunk(client, queue_url, chunk, timeout_s) for chunk in chunks)
    )
    return [message for failed in results for message in failed]


async def _change_chunk(
    client: SQSClient, queue_url: str, chunk: Sequence[ReceivedMessage], timeout_s: int
) -> list[ReceivedMessage]:
    # The entry id is the position: SQS allows only [A-Za-z0-9_-] there.
    entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
        {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": timeout_s}
        for i, m in enumerate(chunk)
    ]
    try:
        response = await client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    except SQS_ERRORS as exc:
        logger.warning(
            "could not set the visibility of %d message(s) to %d s: %s", len(chunk), timeout_s, exc
        )
        return list(chunk)
    failed: list[ReceivedMessage] = []
    for entry in response.get("Failed", []):
        message = chunk[int(entry["Id"])]
        failed.append(message)
        logger.warning(
            "could not set the visibility of %s to %d s: %s %s",
            message.message_id,
            timeout_s,
            entry.get("Code"),
            entry.get("Message", ""),
        )
    return failed
