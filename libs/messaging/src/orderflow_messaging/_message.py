"""The messages this library moves: what a publisher sends and what a consumer receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

EVENT_TYPE_ATTRIBUTE: Final = "ce_type"
"""Message attribute carrying the CloudEvents type, so consumers can route without parsing."""

TRACEPARENT_ATTRIBUTE: Final = "traceparent"
"""Message attribute carrying the W3C trace context."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """A message to send.

    id: unique per message; used as the batch entry id and for de-duplication downstream.
    body: the message body (UTF-8 text, at most 256 KiB with its attributes).
    attributes: string message attributes (event type, trace context).
    group_id: the message group, for FIFO queues only.
    """

    id: str
    body: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    group_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedMessage:
    """A message as a handler sees it.

    message_id: SQS's id for the message (the same on every delivery).
    receipt_handle: this delivery's handle (delete, change visibility).
    body: the message body.
    attributes: its string message attributes.
    receive_count: ApproximateReceiveCount, 1 on the first delivery.
    queue_url: the queue it came from.
    group_id: its MessageGroupId on a FIFO queue (default None: a standard queue).
    """

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str]
    receive_count: int
    queue_url: str
    group_id: str | None = None
