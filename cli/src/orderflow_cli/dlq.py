"""`orderflow dlq list | redrive | purge`: look into a dead-letter queue and act on it.

`list` leaves the messages where they are (received with a short visibility, then made visible
again). `redrive` moves messages back to the queue they came from: with StartMessageMoveTask where
the engine has it and every message is to go, by hand otherwise (send to the source, then delete
from the DLQ: a crash in between duplicates a message, which the consumers' inbox absorbs).
`purge` asks first unless `--yes`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from orderflow_cli.errors import CliError
from orderflow_messaging import (
    DLQ_REASON_ATTRIBUTE,
    DLQ_RECEIVE_COUNT_ATTRIBUTE,
    DLQ_SOURCE_ATTRIBUTE,
    EVENT_TYPE_ATTRIBUTE,
    is_missing_queue,
)
from orderflow_servicekit.settings import SqsSettings

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        MessageAttributeValueTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

_PEEK_VISIBILITY_S = 60


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message in a DLQ, as `orderflow dlq list` shows it."""

    message_id: str
    event_type: str
    reason: str
    receive_count: int
    age_s: float
    source_queue: str


@dataclass(frozen=True, slots=True)
class DeadLetterQueue:
    name: str
    url: str
    arn: str
    sources: dict[str, str]
    """Source queue URL by ARN: the queues whose redrive policy targets this one."""


async def resolve_dlq(client: SQSClient, name: str, settings: SqsSettings) -> DeadLetterQueue:
    """Find `name` and the queues that redrive to it; a queue nothing redrives to is refused."""
    try:
        url = (await client.get_queue_url(QueueName=name))["QueueUrl"]
    except ClientError as exc:
        if is_missing_queue(exc):
            raise CliError(f"there is no queue named {name!r}") from exc
        raise
    arn = await _arn(client, url)
    sources: dict[str, str] = {}
    # The topology says which queue feeds which DLQ; that also serves engines without
    # ListDeadLetterSourceQueues. Other redrive sources are found by asking SQS.
    for spec in settings.queue_specs():
        if spec.dlq_name == name:
            source_url = (await client.get_queue_url(QueueName=spec.name))["QueueUrl"]
            sources[await _arn(client, source_url)] = source_url
    try:
        for source_url in (await client.list_dead_letter_source_queues(QueueUrl=url)).get(
            "queueUrls", []
        ):
            sources[await _arn(client, source_url)] = source_url
    except ClientError:
        pass
    if not sources:
        raise CliError(f"{name!r} is not a dead-letter queue: no queue redrives to it")
    return DeadLetterQueue(name=name, url=url, arn=arn, sources=sources)


async def _arn(client: SQSClient, url: str) -> str:
    attributes = await client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def _string_attribute(message: MessageTypeDef, name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name)
    return None if value is None else value.get("StringValue")


def describe(message: MessageTypeDef, dlq: DeadLetterQueue, now_s: float) -> DeadLetter:
    system = message.get("Attributes", {})
    receive_count = _string_attribute(message, DLQ_RECEIVE_COUNT_ATTRIBUTE)
    event_type = _string_attribute(message, EVENT_TYPE_ATTRIBUTE)
    if event_type is None:
        try:
            body = json.loads(message.get("Body", ""))
            event_type = str(body.get("type", "?")) if isinstance(body, dict) else "?"
        except ValueError:
            event_type = "?"
    source = _string_attribute(message, DLQ_SOURCE_ATTRIBUTE) or next(iter(dlq.sources.values()))
    sent_ms = int(system.get("SentTimestamp", str(int(now_s * 1000))))
    return DeadLetter(
        message_id=message["MessageId"],
        event_type=event_type,
        # Without our attribute the message came by the redrive policy: it kept failing.
        reason=_string_attribute(message, DLQ_REASON_ATTRIBUTE) or "max_receives_exceeded",
        receive_count=int(receive_count or system.get("ApproximateReceiveCount", "0")),
        age_s=max(0.0, now_s - sent_ms / 1000),
        source_queue=source.rsplit("/", 1)[-1],
    )


async def _receive(client: SQSClient, url: str, count: int) -> list[MessageTypeDef]:
    response = await client.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max(1, min(10, count)),
        WaitTimeSeconds=1,
        VisibilityTimeout=_PEEK_VISIBILITY_S,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
    )
    return list(response.get("Messages", []))


async def peek(client: SQSClient, dlq: DeadLetterQueue, limit: int) -> list[DeadLetter]:
    """Up to `limit` messages, left in the DLQ and visible again afterwards."""
    seen: dict[str, MessageTypeDef] = {}
    handles: list[str] = []
    while len(seen) < limit:
        batch = await _receive(client, dlq.url, limit - len(seen))
        if not batch:
            break
        for message in batch:
            seen.setdefault(message["MessageId"], message)
            handles.append(message["ReceiptHandle"])
    for start in range(0, len(handles), 10):
        await client.change_message_visibility_batch(
            QueueUrl=dlq.url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + 10])
            ],
        )
    now_s = time.time()
    return [describe(m, dlq, now_s) for m in seen.values()]


async def move_by_hand(client: SQSClient, dlq: DeadLetterQueue, limit: int | None) -> int:
    """Send up to `limit` messages back to their source queue, then delete them from the DLQ."""
    moved = 0
    sources_by_name = {url.rsplit("/", 1)[-1]: url for url in dlq.sources.values()}
    default_source = next(iter(dlq.sources.values()))
    while limit is None or moved < limit:
        batch = await _receive(client, dlq.url, 10 if limit is None else limit - moved)
        if not batch:
            break
        by_source: dict[str, list[MessageTypeDef]] = {}
        for message in batch:
            origin = _string_attribute(message, DLQ_SOURCE_ATTRIBUTE) or ""
            target = sources_by_name.get(origin.rsplit("/", 1)[-1], default_source)
            by_source.setdefault(target, []).append(message)
        for target, messages in by_source.items():
            response = await client.send_message_batch(
                QueueUrl=target, Entries=[_resend_entry(i, m) for i, m in enumerate(messages)]
            )
            sent = [messages[int(e["Id"])] for e in response.get("Successful", [])]
            if failed := response.get("Failed", []):
                raise CliError(f"SQS refused to redrive {len(failed)} message(s): {failed[0]}")
            await client.delete_message_batch(
                QueueUrl=dlq.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)
                ],
            )
            moved += len(sent)
    return moved


def _resend_entry(index: int, message: MessageTypeDef) -> SendMessageBatchRequestEntryTypeDef:
    # The message goes back as it first was: our DLQ bookkeeping attributes stay behind.
    attributes: dict[str, MessageAttributeValueTypeDef] = {
        name: {"DataType": value.get("DataType", "String"), "StringValue": value["StringValue"]}
        for name, value in message.get("MessageAttributes", {}).items()
        if "StringValue" in value and not name.startswith("orderflow_dlq_")
    }
    return {
        "Id": str(index),
        "MessageBody": message.get("Body", ""),
        "MessageAttributes": attributes,
    }


async def move_with_task(client: SQSClient, dlq: DeadLetterQueue, timeout_s: float) -> int | None:
    """StartMessageMoveTask and wait for it; None when the engine does not offer it."""
    try:
        task = await client.start_message_move_task(SourceArn=dlq.arn)
    except ClientError:
        return None  # moto and fauxqs have no move tasks: the caller moves by hand
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tasks = (await client.list_message_move_tasks(SourceArn=dlq.arn)).get("Results", [])
        mine = next((t for t in tasks if t.get("TaskHandle") == task["TaskHandle"]), None)
        if mine and mine.get("Status") in {"COMPLETED", "FAILED", "CANCELLED"}:
            if mine["Status"] != "COMPLETED":
                raise CliError(f"the move task ended {mine['Status']}: {mine.get('FailureReason')}")
            return int(mine.get("ApproximateNumberOfMessagesMoved", 0))
        await asyncio.sleep(1.0)  # a remote task's status can only be polled
    raise CliError(f"the move task {task['TaskHandle']} had not finished after {timeout_s:.0f} s")


def render_table(letters: Sequence[DeadLetter]) -> str:
    header = ("MESSAGE ID", "EVENT TYPE", "REASON", "RECEIVES", "AGE", "SOURCE")
    rows = [
        (
            d.message_id,
            d.event_type,
            d.reason,
            str(d.receive_count),
            _age(d.age_s),
            d.source_queue,
        )
        for d in letters
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86_400:.0f}d"


def as_json_lines(letters: Sequence[DeadLetter]) -> str:
    return "\n".join(json.dumps(asdict(d)) for d in letters)


def confirm(question: str, ask: Callable[[str], str] = input) -> bool:
    """A yes/no question on the terminal; refuses when there is no terminal to ask on."""
    if not sys.stdin.isatty():
        raise CliError("no terminal to confirm on: pass --yes to purge without asking")
    return ask(f"{question} [y/N] ").strip().lower() in {"y", "yes"}
