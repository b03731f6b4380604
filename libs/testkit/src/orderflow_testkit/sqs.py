"""Looking into queues from tests: how deep they are (re-exported), and what they hold."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from orderflow_messaging import queue_depth as queue_depth
from orderflow_testkit.waiting import ConditionTimeout

__all__ = ["queue_depth", "receive_messages"]

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef


async def receive_messages(
    client: SQSClient,
    queue_url: str,
    count: int,
    *,
    timeout_s: float = 10.0,
    delete: bool = True,
) -> list[MessageTypeDef]:
    """Receive until `count` messages arrived (with attributes), deleting them unless told not to.

    Raises `ConditionTimeout` when fewer arrive within `timeout_s`. SQS may deliver a message
    twice; duplicates (same MessageId) are returned once.
    """
    deadline = time.monotonic() + timeout_s
    seen: dict[str, MessageTypeDef] = {}
    while len(seen) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConditionTimeout(
                f"{len(seen)} of {count} message(s) arrived on {queue_url} within {timeout_s} s"
            )
        response = await client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, count - len(seen)),
            WaitTimeSeconds=max(0, min(1, int(remaining))),
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        for message in response.get("Messages", []):
            seen.setdefault(message["MessageId"], message)
            if delete:
                await client.delete_message(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
    return list(seen.values())
