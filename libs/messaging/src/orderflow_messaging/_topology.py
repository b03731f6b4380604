"""The queue topology, declared once and applied idempotently."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from orderflow_messaging._exceptions import QueueNotFoundError
from orderflow_messaging._queues import is_missing_queue

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.literals import QueueAttributeNameType

_FIFO_SUFFIX = ".fifo"
_DLQ_SUFFIX = "-dlq"


def dead_letter_name(queue: str) -> str:
    """The default DLQ name of a queue: "NAME-dlq", or "NAME-dlq.fifo" for a FIFO queue."""
    if queue.endswith(_FIFO_SUFFIX):
        return f"{queue.removesuffix(_FIFO_SUFFIX)}{_DLQ_SUFFIX}{_FIFO_SUFFIX}"
    return f"{queue}{_DLQ_SUFFIX}"


def is_dead_letter_name(queue: str) -> bool:
    """Whether a name follows the default DLQ naming (`dead_letter_name`)."""
    return queue.removesuffix(_FIFO_SUFFIX).endswith(_DLQ_SUFFIX)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSpec:
    """One work queue and its dead-letter queue.

    name: the queue's name (ending in ".fifo" for a FIFO queue).
    dead_letter_name: its DLQ (default: name + "-dlq"; for a FIFO queue "NAME-dlq.fifo").
    max_receive_count: receives before SQS moves a message to the DLQ (default 5).
    visibility_timeout_s: how long a received message stays hidden (default 30).
    retention_s: how long SQS keeps a message (default 4 days, SQS's own default).
    dead_letter_retention_s: how long the DLQ keeps one (default 14 days, the maximum, so people
        have time to look).
    fifo: a FIFO queue, and a FIFO DLQ (default False). Both are created with FifoQueue=true and
        ContentBasedDeduplication=false: publishers give each message a de-duplication id (the
        `SqsPublisher` uses the message id). A queue's FIFO-ness is fixed when it is created.
    sse: server-side encryption with SQS-owned keys (SSE-SQS) on the queue and its DLQ
        (default True; SqsManagedSseEnabled=true). False leaves encryption as the queue has it,
        for engines that do not know the attribute, or KMS keys managed elsewhere.
    """

    name: str
    dead_letter_name: str | None = None
    max_receive_count: int = 5
    visibility_timeout_s: int = 30
    retention_s: int = 4 * 24 * 3600
    dead_letter_retention_s: int = 14 * 24 * 3600
    fifo: bool = False
    sse: bool = True

    def __post_init__(self) -> None:
        # SQS decides FIFO-ness by the name's suffix: a mismatch fails at CreateQueue anyway.
        for name in (self.name, self.dead_letter_name):
            if name is not None and name.endswith(_FIFO_SUFFIX) != self.fifo:
                raise ValueError(
                    f"queue {name!r}: a FIFO queue's name ends with {_FIFO_SUFFIX!r} and only a "
                    "FIFO queue's does (set fifo=True, or rename it)"
                )

    @property
    def dlq_name(self) -> str:
        return self.dead_letter_name or dead_letter_name(self.name)


@dataclass(frozen=True, slots=True)
class QueueUrls:
    """Queue URLs by queue name."""

    urls: Mapping[str, str]

    def __getitem__(self, name: str) -> str:
        try:
            return self.urls[name]
        except KeyError:
            raise QueueNotFoundError(f"queue {name!r} is not in the topology") from None


async def apply_topology(client: SQSClient, queues: Iterable[QueueSpec]) -> QueueUrls:
    """Create every queue and DLQ, or bring existing ones to the declared attributes.

    CreateQueue without attributes is idempotent on every engine; attributes are then set
    separately, so a queue created earlier with other settings is updated, not refused. Only
    what CreateQueue alone can set (FifoQueue, ContentBasedDeduplication) goes with it.
    """
    urls: dict[str, str] = {}
    for spec in queues:
        dlq_url = await _create_queue(client, spec.dlq_name, fifo=spec.fifo)
        await client.set_queue_attributes(
            QueueUrl=dlq_url,
            Attributes={
                "MessageRetentionPeriod": str(spec.dead_letter_retention_s),
                **_encryption(spec),
            },
        )
        dlq_arn = (
            await client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        )["Attributes"]["QueueArn"]
        url = await _create_queue(client, spec.name, fifo=spec.fifo)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(spec.max_receive_count)}
        await client.set_queue_attributes(
            QueueUrl=url,
            Attributes={
                "VisibilityTimeout": str(spec.visibility_timeout_s),
                "MessageRetentionPeriod": str(spec.retention_s),
                "RedrivePolicy": json.dumps(redrive),
                **_encryption(spec),
            },
        )
        urls[spec.name] = url
        urls[spec.dlq_name] = dlq_url
    return QueueUrls(urls)


def _encryption(spec: QueueSpec) -> dict[QueueAttributeNameType, str]:
    return {"SqsManagedSseEnabled": "true"} if spec.sse else {}


async def _create_queue(client: SQSClient, name: str, *, fifo: bool) -> str:
    if not fifo:
        return (await client.create_queue(QueueName=name))["QueueUrl"]
    # Only CreateQueue can make a queue FIFO. The same attributes again are idempotent.
    attributes: dict[QueueAttributeNameType, str] = {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
    }
    return (await client.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]


async def resolve_queue_urls(client: SQSClient, names: Iterable[str]) -> QueueUrls:
    """Look up existing queues; raise `QueueNotFoundError` for one that is missing."""
    urls: dict[str, str] = {}
    for name in names:
        try:
            urls[name] = (await client.get_queue_url(QueueName=name))["QueueUrl"]
        except ClientError as exc:
            if is_missing_queue(exc):
                raise QueueNotFoundError(f"queue {name!r} does not exist") from exc
            raise
    return QueueUrls(urls)
