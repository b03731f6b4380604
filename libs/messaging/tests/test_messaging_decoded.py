"""`decoded(decode, handle)`: poison messages stop at the decoder and never reach business code."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from orderflow_messaging import (
    DLQ_DETAIL_ATTRIBUTE,
    DLQ_REASON_ATTRIBUTE,
    Consumer,
    ConsumerOptions,
    OutgoingMessage,
    PoisonMessage,
    QueueSpec,
    ReceivedMessage,
    SqsClientOptions,
    SqsPublisher,
    apply_topology,
    decoded,
    open_sqs_client,
)
from orderflow_testkit.sqs import queue_depth, receive_messages
from orderflow_testkit.waiting import wait_for_value


@dataclass(frozen=True)
class Greeting:
    name: str


def decode_greeting(message: ReceivedMessage) -> Greeting:
    try:
        data = json.loads(message.body)
    except ValueError as exc:
        raise PoisonMessage("not_json", str(exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise PoisonMessage("schema_violation", "name: a string is required")
    return Greeting(name=data["name"])


async def test_only_decoded_values_reach_the_handler_and_poison_goes_to_the_dlq(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}greetings"
    greeted: list[tuple[str, str | None]] = []

    async def greet(greeting: Greeting, message: ReceivedMessage) -> None:
        greeted.append((greeting.name, message.group_id))

    bodies = ['{"name": "ada"}', "not json", '{"name": 42}', '{"name": "grace"}']
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue, visibility_timeout_s=60)])
        dlq = urls[f"{queue}-dlq"]
        messages = [OutgoingMessage(id=f"m{i}", body=b) for i, b in enumerate(bodies)]
        assert not (await SqsPublisher(client).send(urls[queue], messages)).failed
        options = ConsumerOptions(
            wait_time_s=1, delete_flush_interval_s=0.02, dead_letter_queue_url=dlq
        )
        consumer = Consumer(client, urls[queue], decoded(decode_greeting, greet), options)
        task = asyncio.create_task(consumer.run())
        try:
            dead = await receive_messages(client, dlq, 2)
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
        finally:
            consumer.stop()
            await asyncio.wait_for(task, 30)
    assert sorted(greeted) == [("ada", None), ("grace", None)]  # a standard queue: no group
    reasons = {m["Body"]: m["MessageAttributes"][DLQ_REASON_ATTRIBUTE]["StringValue"] for m in dead}
    assert reasons == {"not json": "not_json", '{"name": 42}': "schema_violation"}
    details = [m["MessageAttributes"][DLQ_DETAIL_ATTRIBUTE]["StringValue"] for m in dead]
    assert "name: a string is required" in details
    assert consumer.stats.dead_lettered == 2
    assert consumer.stats.succeeded == 2
