"""The visibility heartbeat against a real moto server: a slow handler never causes a redelivery."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest
from botocore.exceptions import EndpointConnectionError

from orderflow_messaging import (
    Consumer,
    ConsumerOptions,
    OutgoingMessage,
    QueueNotFoundError,
    QueueSpec,
    ReceivedMessage,
    SqsClientOptions,
    SqsPublisher,
    apply_topology,
    open_sqs_client,
)
from orderflow_messaging._heartbeat import HeartbeatTiming, heartbeat_timing
from orderflow_testkit.consumers import FAST_CONSUMER, running_consumer
from orderflow_testkit.sqs import queue_depth
from orderflow_testkit.waiting import wait_for_value


async def test_a_handler_slower_than_the_visibility_timeout_completes_once_without_redelivery(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}slow"
    calls: list[int] = []
    finished = asyncio.Event()

    async def handler(message: ReceivedMessage) -> None:
        calls.append(message.receive_count)
        await asyncio.sleep(5)  # the slow work: 2.5 times the queue's visibility timeout
        finished.set()

    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue, visibility_timeout_s=2)])
        await SqsPublisher(client).send(urls[queue], [OutgoingMessage(id="m0", body="slow")])
        # No visibility option: the consumer reads the queue's 2 s and extends every ~0.7 s.
        consumer = Consumer(client, urls[queue], handler, FAST_CONSUMER)
        async with running_consumer(consumer):
            await asyncio.wait_for(finished.wait(), 30)
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
        assert calls == [1]  # handled once, on its first receive: it never came back
        assert consumer.stats.received == 1
        assert consumer.stats.succeeded == 1
        assert consumer.stats.extended >= 5
        assert await queue_depth(client, urls[f"{queue}-dlq"]) == 0


async def test_a_failed_extension_is_logged_and_the_next_one_keeps_the_message_hidden(
    sqs_options: SqsClientOptions, queue_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = f"{queue_prefix}flaky"
    calls = 0
    finished = asyncio.Event()
    failed_once = asyncio.Event()

    async def fail_first_extension(**_: object) -> None:
        # The network drops the first ChangeMessageVisibilityBatch.
        if not failed_once.is_set():
            failed_once.set()
            raise EndpointConnectionError(endpoint_url="http://sqs.invalid")

    async def handler(message: ReceivedMessage) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(3.5)
        finished.set()

    caplog.set_level(logging.WARNING, logger="orderflow.consumer")
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue, visibility_timeout_s=2)])
        client.meta.events.register(
            "before-call.sqs.ChangeMessageVisibilityBatch",
            fail_first_extension,  # type: ignore[arg-type]
        )
        await SqsPublisher(client).send(urls[queue], [OutgoingMessage(id="m0", body="slow")])
        consumer = Consumer(client, urls[queue], handler, FAST_CONSUMER)
        async with running_consumer(consumer) as task:
            await asyncio.wait_for(finished.wait(), 30)
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
            assert not task.done()  # the failure did not stop the consumer
        assert failed_once.is_set()
        assert calls == 1
        assert consumer.stats.extended >= 1
        assert "could not set the visibility" in caplog.text


async def test_an_explicit_visibility_and_heartbeat_are_used_on_receive(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}explicit"
    calls = 0
    finished = asyncio.Event()

    async def handler(message: ReceivedMessage) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(3.5)
        finished.set()

    async with open_sqs_client(sqs_options) as client:
        # The queue's own timeout (60 s) is overridden by the receive's (2 s).
        urls = await apply_topology(client, [QueueSpec(name=queue, visibility_timeout_s=60)])
        await SqsPublisher(client).send(urls[queue], [OutgoingMessage(id="m0", body="slow")])
        options = replace(
            FAST_CONSUMER, visibility_timeout_s=2, heartbeat_interval_s=0.5, heartbeat_extension_s=3
        )
        consumer = Consumer(client, urls[queue], handler, options)
        async with running_consumer(consumer):
            await asyncio.wait_for(finished.wait(), 30)
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
        assert calls == 1
        assert consumer.stats.extended >= 3


async def test_a_consumer_of_a_missing_queue_fails_at_start_with_queue_not_found(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    async def handler(message: ReceivedMessage) -> None:
        raise AssertionError("there is no queue")

    async with open_sqs_client(sqs_options) as client:
        url = f"{sqs_options.endpoint_url}/123456789012/{queue_prefix}missing"
        consumer = Consumer(client, url, handler, FAST_CONSUMER)
        with pytest.raises(QueueNotFoundError):
            await asyncio.wait_for(consumer.run(), 10)


def test_the_heartbeat_defaults_to_a_third_of_the_visibility_and_extends_by_all_of_it() -> None:
    assert heartbeat_timing(30) == HeartbeatTiming(interval_s=10.0, extension_s=30)
    assert heartbeat_timing(30, 5, 60) == HeartbeatTiming(interval_s=5, extension_s=60)
    assert heartbeat_timing(0) is None  # nothing is hidden, nothing to extend


@pytest.mark.parametrize(
    ("visibility", "interval", "extension"),
    [(30, 30, None), (30, 10, 10), (30, 0, None), (30, None, 0), (30, None, 50_000)],
)
def test_a_heartbeat_that_would_let_a_message_reappear_is_refused(
    visibility: int, interval: float | None, extension: int | None
) -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        heartbeat_timing(visibility, interval, extension)


def test_bad_heartbeat_options_fail_when_the_consumer_is_built() -> None:
    options = ConsumerOptions(visibility_timeout_s=10, heartbeat_interval_s=10)
    with pytest.raises(ValueError, match="heartbeat_interval_s"):
        Consumer(None, "http://127.0.0.1:1/q", _never, options)  # type: ignore[arg-type]


async def _never(message: ReceivedMessage) -> None:
    raise AssertionError("never called")
