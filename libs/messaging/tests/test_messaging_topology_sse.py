"""Server-side encryption in the declared topology: SSE-SQS on each queue and DLQ, or not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from orderflow_messaging import QueueSpec, SqsClientOptions, apply_topology, open_sqs_client

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


async def _sse(client: SQSClient, url: str) -> str:
    attributes = await client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["SqsManagedSseEnabled"]
    )
    value: str = attributes["Attributes"]["SqsManagedSseEnabled"]
    return value


@pytest.mark.parametrize(("sse", "expected"), [(True, "true"), (False, "false")])
async def test_the_topology_encrypts_queue_and_dlq_unless_told_to_leave_them(
    sqs_options: SqsClientOptions, queue_prefix: str, sse: bool, expected: str
) -> None:
    name = f"{queue_prefix}orders"
    async with open_sqs_client(sqs_options) as client:
        # Queues that exist unencrypted, e.g. made by hand or by an older version.
        for queue in (name, f"{name}-dlq"):
            await client.create_queue(QueueName=queue, Attributes={"SqsManagedSseEnabled": "false"})

        urls = await apply_topology(client, [QueueSpec(name=name, sse=sse)])

        assert await _sse(client, urls[name]) == expected
        assert await _sse(client, urls[f"{name}-dlq"]) == expected
