"""FIFO queues against the session's SQS engine: order per message group, groups in parallel."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from orderflow_messaging import (
    DLQ_REASON_ATTRIBUTE,
    DLQ_SOURCE_ATTRIBUTE,
    MAX_MESSAGE_BYTES,
    Consumer,
    ExponentialBackoff,
    OutgoingMessage,
    PoisonMessage,
    QueueSpec,
    QueueUrls,
    ReceivedMessage,
    SqsClientOptions,
    SqsPublisher,
    apply_topology,
    open_sqs_client,
)
from orderflow_testkit.consumers import FAST_CONSUMER, running_consumer
from orderflow_testkit.engines import has_feature
from orderflow_testkit.sqs import queue_depth, receive_messages
from orderflow_testkit.waiting import wait_for_value

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


async def _fifo_topology(client: SQSClient, queue: str) -> QueueUrls:
    # A long visibility timeout: a message that comes back early proves it was released.
    return await apply_topology(client, [QueueSpec(name=queue, fifo=True, visibility_timeout_s=60)])


async def _send_groups(client: SQSClient, url: str, groups: list[str], per_group: int) -> None:
    # Interleaved (a0, b0, c0, a1, ...), so one receive holds several groups.
    messages = [
        OutgoingMessage(id=f"{g}{i}", body=f"{g}:{i}", group_id=g)
        for i in range(per_group)
        for g in groups
    ]
    result = await SqsPublisher(client).send(url, messages)
    assert not result.failed


async def test_messages_of_a_group_are_handled_in_order_one_at_a_time_groups_in_parallel(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work.fifo"
    handled: dict[str, list[int]] = defaultdict(list)
    running: dict[str, int] = defaultdict(int)
    most_in_a_group = 0
    in_flight = 0
    most = 0

    async def handler(message: ReceivedMessage) -> None:
        nonlocal most_in_a_group, in_flight, most
        assert message.group_id is not None
        group, seq = message.body.split(":")
        assert group == message.group_id
        running[group] += 1
        in_flight += 1
        most_in_a_group = max(most_in_a_group, running[group])
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.05)  # simulated work, so groups overlap
            handled[group].append(int(seq))
        finally:
            running[group] -= 1
            in_flight -= 1

    async with open_sqs_client(sqs_options) as client:
        urls = await _fifo_topology(client, queue)
        await _send_groups(client, urls[queue], ["a", "b", "c"], 10)
        consumer = Consumer(client, urls[queue], handler, replace(FAST_CONSUMER, concurrency=5))
        assert consumer.fifo
        async with running_consumer(consumer):
            await wait_for_value(
                lambda: queue_depth(client, urls[queue]), lambda n: n == 0, timeout_s=60
            )
    assert dict(handled) == {g: list(range(10)) for g in "abc"}
    assert most_in_a_group == 1
    assert 1 < most <= 5  # groups ran side by side, within the concurrency
    assert consumer.stats.retried == 0


async def test_a_failing_message_holds_back_its_group_and_is_retried_before_the_next(
    sqs_options: SqsClientOptions, queue_prefix: str, sqs_engine: str
) -> None:
    queue = f"{queue_prefix}work.fifo"
    calls: list[tuple[str, int]] = []

    async def handler(message: ReceivedMessage) -> None:
        calls.append((message.body, message.receive_count))
        if message.body == "a:1" and message.receive_count == 1:
            raise RuntimeError("transient")

    async with open_sqs_client(sqs_options) as client:
        urls = await _fifo_topology(client, queue)
        await _send_groups(client, urls[queue], ["a", "b"], 5)
        # One receive takes all ten; a:1 is hidden for 1 s while a:2..a:4 go back at once.
        one_second = ExponentialBackoff(base_s=1, cap_s=1, jitter=False)
        options = replace(FAST_CONSUMER, concurrency=10, retry_backoff=one_second)
        consumer = Consumer(client, urls[queue], handler, options)
        async with running_consumer(consumer):
            await wait_for_value(
                lambda: queue_depth(client, urls[queue]), lambda n: n == 0, timeout_s=30
            )
    group_a = [(body, count) for body, count in calls if body.startswith("a:")]
    # Where one receive holds a group's later messages, a:2..a:4 went back unhandled (receive 2);
    # an engine that hands out one message per group never lets them out before a:1 is done.
    later = 2 if has_feature(sqs_engine, "FIFO group batches") else 1
    assert group_a == [("a:0", 1), ("a:1", 1), ("a:1", 2)] + [(f"a:{i}", later) for i in (2, 3, 4)]
    assert [body for body, _ in calls if body.startswith("b:")] == [f"b:{i}" for i in range(5)]
    assert consumer.stats.retried == 1
    assert consumer.stats.released == 3 * (later - 1)  # never handled on their first receive


async def test_a_poison_message_goes_to_the_fifo_dlq_and_its_group_moves_on(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work.fifo"
    handled: list[str] = []

    async def handler(message: ReceivedMessage) -> None:
        if message.body == "a:0":
            raise PoisonMessage("not_json", "expecting value")
        handled.append(message.body)

    async with open_sqs_client(sqs_options) as client:
        urls = await _fifo_topology(client, queue)
        dlq = urls[f"{queue_prefix}work-dlq.fifo"]
        await _send_groups(client, urls[queue], ["a"], 3)
        options = replace(FAST_CONSUMER, dead_letter_queue_url=dlq)
        consumer = Consumer(client, urls[queue], handler, options)
        async with running_consumer(consumer):
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
        response = await client.receive_message(
            QueueUrl=dlq,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["MessageGroupId"],
        )
    [dead] = response["Messages"]
    assert dead["Body"] == "a:0"
    assert dead["Attributes"]["MessageGroupId"] == "a"
    assert dead["MessageAttributes"][DLQ_REASON_ATTRIBUTE]["StringValue"] == "not_json"
    assert dead["MessageAttributes"][DLQ_SOURCE_ATTRIBUTE]["StringValue"] == urls[queue]
    assert handled == ["a:1", "a:2"]


@pytest.mark.needs_engine_feature("FIFO group batches")
async def test_stop_makes_a_groups_unfinished_and_queued_messages_visible_at_once(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work.fifo"
    started = asyncio.Event()

    async def handler(message: ReceivedMessage) -> None:
        started.set()
        await asyncio.Event().wait()  # never finishes on its own

    async with open_sqs_client(sqs_options) as client:
        urls = await _fifo_topology(client, queue)
        await _send_groups(client, urls[queue], ["a"], 3)
        options = replace(FAST_CONSUMER, shutdown_grace_s=0.2)
        consumer = Consumer(client, urls[queue], handler, options)
        task = asyncio.create_task(consumer.run())
        await asyncio.wait_for(started.wait(), 10)
        consumer.stop()
        await asyncio.wait_for(task, 10)
        assert consumer.stats.released == 3
        # The queue's visibility timeout is 60 s: receiving them now proves they were released,
        # and the group comes back whole, in order.
        again = await receive_messages(client, urls[queue], 3, timeout_s=5)
    assert [m["Body"] for m in again] == ["a:0", "a:1", "a:2"]


async def test_apply_topology_creates_a_fifo_queue_and_a_fifo_dlq_idempotently(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    name = f"{queue_prefix}orders.fifo"
    spec = QueueSpec(name=name, fifo=True, max_receive_count=3)
    assert spec.dlq_name == f"{queue_prefix}orders-dlq.fifo"
    async with open_sqs_client(sqs_options) as client:
        first = await apply_topology(client, [spec])
        assert await apply_topology(client, [spec]) == first
        for queue in (name, spec.dlq_name):
            attributes = (
                await client.get_queue_attributes(QueueUrl=first[queue], AttributeNames=["All"])
            )["Attributes"]
            assert attributes["FifoQueue"] == "true"
            assert attributes["ContentBasedDeduplication"] == "false"
        attributes = (
            await client.get_queue_attributes(QueueUrl=first[name], AttributeNames=["All"])
        )["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{spec.dlq_name}")
        assert int(redrive["maxReceiveCount"]) == 3


async def test_a_fifo_publish_spanning_several_batches_keeps_each_groups_order(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work.fifo"
    async with open_sqs_client(sqs_options) as client:
        urls = await _fifo_topology(client, queue)
        await _send_groups(client, urls[queue], ["a", "b", "c"], 10)  # three batches of ten
        received = await receive_messages(client, urls[queue], 30)
    bodies = [m["Body"] for m in received]
    for group in "abc":
        assert [b for b in bodies if b.startswith(group)] == [f"{group}:{i}" for i in range(10)]


async def test_a_fifo_group_whose_message_failed_is_not_sent_further_in_that_call(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work.fifo"
    too_big = "x" * (MAX_MESSAGE_BYTES + 1)
    messages = [
        OutgoingMessage(
            id=f"{g}{i}", body=too_big if (g, i) == ("a", 1) else f"{g}:{i}", group_id=g
        )
        for i in range(4)
        for g in "ab"
    ]
    async with open_sqs_client(sqs_options) as client:
        urls = await _fifo_topology(client, queue)
        result = await SqsPublisher(client).send(urls[queue], messages)
        # a1 could never be sent; a2 and a3 would overtake it, so they wait for the next call.
        assert sorted(result.failed) == ["a1", "a2", "a3"]
        assert "earlier message of its group" in result.failed["a2"]
        assert sorted(result.sent) == ["a0", "b0", "b1", "b2", "b3"]
        assert await queue_depth(client, urls[queue]) == 5


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "orders", "fifo": True},
        {"name": "orders.fifo"},
        {"name": "orders.fifo", "fifo": True, "dead_letter_name": "orders-dead"},
        {"name": "orders", "dead_letter_name": "orders-dead.fifo"},
    ],
)
def test_a_queue_spec_whose_names_disagree_with_fifo_is_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"\.fifo"):
        QueueSpec(**spec)  # type: ignore[arg-type]
