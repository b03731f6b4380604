"""The consumer runtime against a real moto server: delete, concurrency, retry, DLQ, shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from orderflow_messaging import (
    DLQ_DETAIL_ATTRIBUTE,
    DLQ_REASON_ATTRIBUTE,
    DLQ_RECEIVE_COUNT_ATTRIBUTE,
    DLQ_SOURCE_ATTRIBUTE,
    EVENT_TYPE_ATTRIBUTE,
    Consumer,
    ConsumerOptions,
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
from orderflow_testkit.sqs import queue_depth, receive_messages
from orderflow_testkit.waiting import wait_for_value

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

NO_BACKOFF = ExponentialBackoff(base_s=0, cap_s=0, jitter=False)


async def _topology(client: SQSClient, queue: str) -> QueueUrls:
    # A long visibility timeout: a message that comes back early proves it was released.
    return await apply_topology(client, [QueueSpec(name=queue, visibility_timeout_s=60)])


async def _send(client: SQSClient, url: str, count: int) -> list[str]:
    messages = [
        OutgoingMessage(id=f"m{i}", body=f"body-{i}", attributes={EVENT_TYPE_ATTRIBUTE: "t.v1"})
        for i in range(count)
    ]
    result = await SqsPublisher(client).send(url, messages)
    assert not result.failed
    return [m.body for m in messages]


async def test_handled_messages_are_deleted_and_the_queue_empties(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work"
    handled: list[str] = []

    async def handler(message: ReceivedMessage) -> None:
        assert message.attributes[EVENT_TYPE_ATTRIBUTE] == "t.v1"
        assert message.receive_count == 1
        handled.append(message.body)

    async with open_sqs_client(sqs_options) as client:
        urls = await _topology(client, queue)
        bodies = await _send(client, urls[queue], 15)
        consumer = Consumer(client, urls[queue], handler, FAST_CONSUMER)
        async with running_consumer(consumer):
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
        assert sorted(set(handled)) == sorted(bodies)
        assert consumer.stats.succeeded >= 15
        assert consumer.stats.retried == 0


async def test_concurrency_never_exceeds_the_option(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work"
    in_flight = 0
    most = 0
    done = 0

    async def handler(message: ReceivedMessage) -> None:
        nonlocal in_flight, most, done
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.05)  # simulated work, so handlers overlap
        finally:
            in_flight -= 1
            done += 1

    async with open_sqs_client(sqs_options) as client:
        urls = await _topology(client, queue)
        await _send(client, urls[queue], 24)
        options = replace(FAST_CONSUMER, concurrency=3)
        async with running_consumer(Consumer(client, urls[queue], handler, options)):
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
    assert done >= 24
    assert most == 3


async def test_a_failing_handler_gets_its_message_back_after_the_backoff(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work"
    receive_counts: list[int] = []

    async def handler(message: ReceivedMessage) -> None:
        receive_counts.append(message.receive_count)
        if message.receive_count == 1:
            raise RuntimeError("transient")

    async with open_sqs_client(sqs_options) as client:
        urls = await _topology(client, queue)
        await _send(client, urls[queue], 1)
        options = replace(FAST_CONSUMER, retry_backoff=NO_BACKOFF)
        consumer = Consumer(client, urls[queue], handler, options)
        async with running_consumer(consumer):
            # The queue's visibility is 60 s: only the backoff (0 s) can bring it back this soon.
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
        assert receive_counts[:2] == [1, 2]
        assert consumer.stats.retried == 1
        assert await queue_depth(client, urls[f"{queue}-dlq"]) == 0


async def test_poison_message_goes_to_the_dlq_with_its_reason_and_leaves_the_source(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work"
    calls = 0

    async def handler(message: ReceivedMessage) -> None:
        nonlocal calls
        calls += 1
        raise PoisonMessage("schema_violation", "data.total: must be positive")

    async with open_sqs_client(sqs_options) as client:
        urls = await _topology(client, queue)
        await _send(client, urls[queue], 1)
        options = replace(FAST_CONSUMER, dead_letter_queue_url=urls[f"{queue}-dlq"])
        consumer = Consumer(client, urls[queue], handler, options)
        async with running_consumer(consumer):
            [dead] = await receive_messages(client, urls[f"{queue}-dlq"], 1)
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
        attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
        assert dead["Body"] == "body-0"
        assert attributes[DLQ_REASON_ATTRIBUTE] == "schema_violation"
        assert attributes[DLQ_DETAIL_ATTRIBUTE] == "data.total: must be positive"
        assert attributes[DLQ_SOURCE_ATTRIBUTE] == urls[queue]
        assert attributes[DLQ_RECEIVE_COUNT_ATTRIBUTE] == "1"
        assert attributes[EVENT_TYPE_ATTRIBUTE] == "t.v1"  # the original attributes travel along
        assert calls == 1
        assert consumer.stats.dead_lettered == 1


async def test_stop_lets_a_slow_handler_finish_within_the_grace_and_deletes_its_message(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work"
    started = asyncio.Event()
    finished = asyncio.Event()

    async def handler(message: ReceivedMessage) -> None:
        started.set()
        await asyncio.sleep(0.5)  # slow work, still running when stop() is called
        finished.set()

    async with open_sqs_client(sqs_options) as client:
        urls = await _topology(client, queue)
        await _send(client, urls[queue], 1)
        # One permit, all taken by the slow handler: stop() must not wait for a free permit.
        options = replace(FAST_CONSUMER, concurrency=1, shutdown_grace_s=10)
        consumer = Consumer(client, urls[queue], handler, options)
        task = asyncio.create_task(consumer.run())
        await asyncio.wait_for(started.wait(), 10)
        consumer.stop()
        await asyncio.wait_for(task, 10)
        assert finished.is_set()
        assert consumer.stats.succeeded == 1
        assert await queue_depth(client, urls[queue]) == 0


async def test_a_handler_outliving_the_grace_is_cancelled_and_its_message_is_visible_at_once(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work"
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(message: ReceivedMessage) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never finishes on its own
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with open_sqs_client(sqs_options) as client:
        urls = await _topology(client, queue)
        await _send(client, urls[queue], 1)
        options = replace(FAST_CONSUMER, concurrency=1, shutdown_grace_s=0.2)
        consumer = Consumer(client, urls[queue], handler, options)
        task = asyncio.create_task(consumer.run())
        await asyncio.wait_for(started.wait(), 10)
        consumer.stop()
        await asyncio.wait_for(task, 10)
        assert cancelled.is_set()
        # The queue's visibility timeout is 60 s: receiving it now proves it was released.
        response = await client.receive_message(
            QueueUrl=urls[queue],
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        [again] = response["Messages"]
        assert again["Body"] == "body-0"
        assert again["Attributes"]["ApproximateReceiveCount"] == "2"


async def test_stop_while_idle_returns_promptly(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}idle"

    async def handler(message: ReceivedMessage) -> None:
        raise AssertionError("no message was sent")

    polling = asyncio.Event()

    async def receive_sent(**_: object) -> None:
        polling.set()

    async with open_sqs_client(sqs_options) as client:
        urls = await _topology(client, queue)
        consumer = Consumer(client, urls[queue], handler, ConsumerOptions(wait_time_s=20))
        client.meta.events.register(
            "before-call.sqs.ReceiveMessage",
            receive_sent,  # type: ignore[arg-type]
        )
        task = asyncio.create_task(consumer.run())
        # Stop only once the long poll is on its way, so the test proves it is cut short.
        await asyncio.wait_for(polling.wait(), 10)
        consumer.stop()
        # A 20 s long poll must be cut short, not waited out.
        await asyncio.wait_for(task, 5)


async def test_stop_waits_for_a_delete_already_in_flight_instead_of_abandoning_it(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work"
    delete_started = asyncio.Event()
    release_delete = asyncio.Event()

    async def slow_delete(**_: object) -> None:
        # Holds the first DeleteMessageBatch in the SDK, as a slow network would.
        if not delete_started.is_set():
            delete_started.set()
            await release_delete.wait()

    async def handler(message: ReceivedMessage) -> None:
        return None

    async with open_sqs_client(sqs_options) as client:
        urls = await _topology(client, queue)
        # botocore's stubs type hooks as plain functions; aiobotocore awaits coroutine hooks.
        client.meta.events.register("before-call.sqs.DeleteMessageBatch", slow_delete)  # type: ignore[arg-type]
        await _send(client, urls[queue], 1)
        consumer = Consumer(client, urls[queue], handler, FAST_CONSUMER)
        task = asyncio.create_task(consumer.run())
        await asyncio.wait_for(delete_started.wait(), 10)
        consumer.stop()
        # run() must not return while the delete is still held (it would have cancelled it).
        done, _ = await asyncio.wait({task}, timeout=0.5)
        assert not done
        release_delete.set()
        await asyncio.wait_for(task, 10)
        assert await queue_depth(client, urls[queue]) == 0


def test_a_negative_receive_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="min_receive_interval_s"):
        ConsumerOptions(min_receive_interval_s=-0.1)
