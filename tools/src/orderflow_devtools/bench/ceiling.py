"""The engine's own ceiling: send + receive + delete with the SDK the services use, batched by 10.

Four senders (SendMessageBatch of 10) and four receivers (ReceiveMessage of 10, then
DeleteMessageBatch) share one aiobotocore client in this one process, as a service would; the
figure is messages moved (sent, received and deleted) per second of wall time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from orderflow_messaging import SqsClientOptions, open_sqs_client

_BODY = '{"specversion":"1.0","type":"bench","data":{"orderId":"' + "x" * 36 + '"}}'
SENDERS = 4
RECEIVERS = 4


async def engine_ceiling(options: SqsClientOptions, messages: int, tag: str) -> dict[str, Any]:
    messages -= messages % 10
    batches = messages // 10
    async with open_sqs_client(options) as client:
        await client.create_queue(QueueName=f"bench-{tag}-ceiling")
        # fauxqs answers with a host name that does not resolve; engines find queues by name.
        url = f"{options.endpoint_url}/000000000000/bench-{tag}-ceiling"
        next_batch = 0
        done = 0
        finished = asyncio.Event()

        async def sender() -> None:
            nonlocal next_batch
            while next_batch < batches:
                next_batch += 1
                entries = [{"Id": str(i), "MessageBody": _BODY} for i in range(10)]
                await client.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]

        async def receiver() -> None:
            nonlocal done
            while not finished.is_set():
                got = (
                    await client.receive_message(
                        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                    )
                ).get("Messages", [])
                if not got:
                    continue
                await client.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(got)
                    ],
                )
                done += len(got)
                if done >= messages:
                    finished.set()

        start = time.perf_counter()
        receivers = [asyncio.create_task(receiver()) for _ in range(RECEIVERS)]
        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        await asyncio.wait_for(finished.wait(), timeout=300)
        elapsed = time.perf_counter() - start
        for task in receivers:
            task.cancel()
        await asyncio.gather(*receivers, return_exceptions=True)
        await client.delete_queue(QueueUrl=url)
    return {
        "ceiling_messages": messages,
        "ceiling_seconds": round(elapsed, 3),
        "ceiling_msgs_per_s": round(messages / elapsed, 1),
        "ceiling_client": f"aiobotocore, one client, {SENDERS} senders and {RECEIVERS} receivers, "
        "batches of 10",
    }
