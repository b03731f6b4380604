"""SqsPublisher: SendMessageBatch of at most ten within the size limit, oversize refused."""

from __future__ import annotations

from typing import Any

from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    MAX_MESSAGE_BYTES,
    TRACEPARENT_ATTRIBUTE,
    OutgoingMessage,
    QueueSpec,
    SqsClientOptions,
    SqsPublisher,
    apply_topology,
    message_size,
    open_sqs_client,
)
from orderflow_testkit.sqs import queue_depth, receive_messages

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _count_batches(client: Any) -> list[int]:
    """Entries per SendMessageBatch call the real client makes."""
    sizes: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["Entries"]))

    client.meta.events.register("before-parameter-build.sqs.SendMessageBatch", record)
    return sizes


async def test_25_messages_go_out_in_batches_of_at_most_ten_and_all_arrive(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    messages = [
        OutgoingMessage(
            id=f"m{i:02d}",
            body=f'{{"n": {i}}}',
            attributes={EVENT_TYPE_ATTRIBUTE: "test.v1", TRACEPARENT_ATTRIBUTE: TRACEPARENT},
        )
        for i in range(25)
    ]
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        batches = _count_batches(client)
        result = await SqsPublisher(client).send(urls[queue], messages)

        assert sorted(result.sent) == [m.id for m in messages]
        assert result.failed == {}
        assert sorted(batches) == [5, 10, 10]
        received = await receive_messages(client, urls[queue], 25)
        assert sorted(m["Body"] for m in received) == sorted(m.body for m in messages)
        for message in received:
            attributes = message["MessageAttributes"]
            assert attributes[EVENT_TYPE_ATTRIBUTE]["StringValue"] == "test.v1"
            assert attributes[TRACEPARENT_ATTRIBUTE]["StringValue"] == TRACEPARENT


async def test_a_batch_never_exceeds_the_size_limit(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}big"
    messages = [OutgoingMessage(id=f"m{i}", body="x" * 100_000) for i in range(5)]
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        batches = _count_batches(client)
        result = await SqsPublisher(client).send(urls[queue], messages)
        assert sorted(result.sent) == [m.id for m in messages]
        assert sorted(batches) == [1, 2, 2]
        assert await queue_depth(client, urls[queue]) == 5


async def test_an_oversized_message_is_reported_failed_and_never_sent(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    oversized = OutgoingMessage(id="huge", body="x" * (MAX_MESSAGE_BYTES + 1))
    # The limit counts attributes too: a body just under it with an attribute is over it.
    with_attributes = OutgoingMessage(
        id="tipped", body="x" * (MAX_MESSAGE_BYTES - 10), attributes={EVENT_TYPE_ATTRIBUTE: "t"}
    )
    assert message_size(with_attributes) > MAX_MESSAGE_BYTES
    fine = [OutgoingMessage(id=f"ok{i}", body="small") for i in range(3)]
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        batches = _count_batches(client)
        result = await SqsPublisher(client).send(urls[queue], [oversized, *fine, with_attributes])

        assert sorted(result.sent) == ["ok0", "ok1", "ok2"]
        assert set(result.failed) == {"huge", "tipped"}
        assert "larger than" in result.failed["huge"]
        assert batches == [3]
        received = await receive_messages(client, urls[queue], 3)
        assert all(m["Body"] == "small" for m in received)
        assert await queue_depth(client, urls[queue]) == 0


async def test_only_oversized_messages_means_no_call_at_all(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        batches = _count_batches(client)
        result = await SqsPublisher(client).send(
            urls[queue], [OutgoingMessage(id="huge", body="é" * MAX_MESSAGE_BYTES)]
        )
        assert result.sent == []
        assert list(result.failed) == ["huge"]
        assert batches == []


async def test_sqs_refusing_a_batch_reports_its_messages_failed_instead_of_raising(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}gone"
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        await client.delete_queue(QueueUrl=urls[queue])
        result = await SqsPublisher(client).send(
            urls[queue], [OutgoingMessage(id="a", body="x"), OutgoingMessage(id="b", body="y")]
        )
        assert result.sent == []
        assert set(result.failed) == {"a", "b"}


async def test_message_ids_that_sqs_would_refuse_as_entry_ids_still_publish(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=f"{queue_prefix}odd")])
        ids = ["order:1/2", "a b", "x" * 100]
        result = await SqsPublisher(client).send(
            urls[f"{queue_prefix}odd"], [OutgoingMessage(id=i, body=i) for i in ids]
        )
    assert sorted(result.sent) == sorted(ids)
    assert result.failed == {}
