"""apply_topology and resolve_queue_urls against a real moto server."""

from __future__ import annotations

import json

import pytest

from orderflow_messaging import (
    QueueNotFoundError,
    QueueSpec,
    SqsClientOptions,
    apply_topology,
    dead_letter_name,
    is_dead_letter_name,
    open_sqs_client,
    resolve_queue_urls,
)


def test_dlq_names_are_derived_in_one_place() -> None:
    assert dead_letter_name("orders") == "orders-dlq"
    assert dead_letter_name("orders.fifo") == "orders-dlq.fifo"
    assert QueueSpec(name="orders.fifo", fifo=True).dlq_name == dead_letter_name("orders.fifo")
    assert QueueSpec(name="orders", dead_letter_name="parked").dlq_name == "parked"
    assert is_dead_letter_name("orders-dlq.fifo")
    assert not is_dead_letter_name("orders")


async def test_apply_topology_twice_is_idempotent_and_sets_redrive_and_visibility(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    name = f"{queue_prefix}orders"
    spec = QueueSpec(name=name, max_receive_count=5, visibility_timeout_s=17)
    async with open_sqs_client(sqs_options) as client:
        first = await apply_topology(client, [spec])
        second = await apply_topology(client, [spec])
        assert first == second
        assert set(first.urls) == {name, f"{name}-dlq"}

        attributes = (
            await client.get_queue_attributes(QueueUrl=first[name], AttributeNames=["All"])
        )["Attributes"]
        dlq_arn = (
            await client.get_queue_attributes(
                QueueUrl=first[f"{name}-dlq"], AttributeNames=["QueueArn"]
            )
        )["Attributes"]["QueueArn"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq_arn
        assert int(redrive["maxReceiveCount"]) == 5
        assert attributes["VisibilityTimeout"] == "17"
        assert attributes["MessageRetentionPeriod"] == str(4 * 24 * 3600)


async def test_apply_topology_brings_an_existing_queue_to_the_declared_attributes(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    name = f"{queue_prefix}payments"
    async with open_sqs_client(sqs_options) as client:
        await client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "99"})
        urls = await apply_topology(
            client,
            [QueueSpec(name=name, dead_letter_name=f"{name}-dead", visibility_timeout_s=30)],
        )
        attributes = (
            await client.get_queue_attributes(QueueUrl=urls[name], AttributeNames=["All"])
        )["Attributes"]
        assert attributes["VisibilityTimeout"] == "30"
        assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(
            f":{name}-dead"
        )


async def test_resolve_queue_urls_finds_existing_queues(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    name = f"{queue_prefix}orders"
    async with open_sqs_client(sqs_options) as client:
        applied = await apply_topology(client, [QueueSpec(name=name)])
        resolved = await resolve_queue_urls(client, [name, f"{name}-dlq"])
        assert resolved == applied


async def test_resolve_queue_urls_raises_queue_not_found_for_a_missing_queue(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    async with open_sqs_client(sqs_options) as client:
        with pytest.raises(QueueNotFoundError, match="does not exist"):
            await resolve_queue_urls(client, [f"{queue_prefix}missing"])


async def test_a_queue_outside_the_topology_is_queue_not_found(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=f"{queue_prefix}orders")])
    with pytest.raises(QueueNotFoundError, match="not in the topology"):
        urls["elsewhere"]
