"""Small questions about a queue that every caller asks the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

_MISSING_QUEUE_CODES: Final = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
)

_DepthAttribute = Literal[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]
_DEPTH_ATTRIBUTES: Final[tuple[_DepthAttribute, ...]] = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def is_missing_queue(exc: ClientError) -> bool:
    """Whether SQS refused a call because the queue does not exist (both protocols' codes)."""
    return exc.response.get("Error", {}).get("Code") in _MISSING_QUEUE_CODES


async def queue_depth(client: SQSClient, queue_url: str) -> int:
    """Messages in the queue: visible, in flight (received, not deleted) and delayed."""
    response = await client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=list(_DEPTH_ATTRIBUTES)
    )
    attributes = response.get("Attributes", {})
    return sum(int(attributes.get(name, "0")) for name in _DEPTH_ATTRIBUTES)
