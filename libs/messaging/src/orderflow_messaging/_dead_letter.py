"""Moving a poison message to its DLQ, carrying why, where from and after how many receives."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from orderflow_messaging._exceptions import SQS_ERRORS
from orderflow_messaging._message import ReceivedMessage

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import SendMessageRequestTypeDef

logger = logging.getLogger("orderflow.consumer")

DLQ_REASON_ATTRIBUTE: Final = "orderflow_dlq_reason"
DLQ_DETAIL_ATTRIBUTE: Final = "orderflow_dlq_detail"
DLQ_SOURCE_ATTRIBUTE: Final = "orderflow_dlq_source_queue"
DLQ_RECEIVE_COUNT_ATTRIBUTE: Final = "orderflow_dlq_receive_count"

_MAX_ATTRIBUTES: Final = 10  # SQS allows ten message attributes
_MAX_DETAIL: Final = 1000


class DeadLetterQueue:
    """Sends copies of poison messages to one DLQ; the caller deletes the original."""

    def __init__(self, client: SQSClient, source_url: str, dlq_url: str) -> None:
        self._client = client
        self._source_url = source_url
        self._dlq_url = dlq_url
        self._fifo = dlq_url.endswith(".fifo")

    async def send(self, message: ReceivedMessage, reason: str, detail: str) -> bool:
        """Send `message` with its reason; False (logged) when SQS did not take it."""
        attributes = {
            DLQ_REASON_ATTRIBUTE: reason,
            DLQ_DETAIL_ATTRIBUTE: detail[:_MAX_DETAIL] or reason,
            DLQ_SOURCE_ATTRIBUTE: self._source_url,
            DLQ_RECEIVE_COUNT_ATTRIBUTE: str(message.receive_count),
        }
        # The original attributes (event type, trace context) travel along, as room allows.
        attributes.update({k: v for k, v in message.attributes.items() if k not in attributes})
        request: SendMessageRequestTypeDef = {
            "QueueUrl": self._dlq_url,
            "MessageBody": message.body or " ",  # SQS refuses an empty body
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
                for name, value in list(attributes.items())[:_MAX_ATTRIBUTES]
            },
        }
        if self._fifo:
            # A FIFO DLQ wants a group and a de-duplication id: the group keeps its order, and a
            # copy sent twice (a retry after a lost answer) is stored once.
            request["MessageGroupId"] = message.group_id or message.message_id
            request["MessageDeduplicationId"] = message.message_id
        try:
            await self._client.send_message(**request)
        except SQS_ERRORS as exc:
            logger.warning("could not dead-letter %s: %s", message.message_id, exc)
            return False
        logger.error("message %s sent to the DLQ: %s %s", message.message_id, reason, detail[:200])
        return True
