"""While SQS is unreachable orders are still accepted; once it is back every event goes out."""

from __future__ import annotations

from urllib.parse import urlsplit

from order_service.testing import order_settings, running_order_service
from orderflow_contracts import decode_event
from orderflow_messaging import SqsClientOptions, open_sqs_client
from orderflow_testkit.proxy import TcpProxy
from orderflow_testkit.sqs import receive_messages
from orderflow_testkit.waiting import wait_for_value


async def test_orders_are_accepted_during_an_sqs_outage_and_published_after_it(
    database_url: str, sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    moto = urlsplit(sqs_options.endpoint_url)
    assert moto.port is not None
    with TcpProxy("127.0.0.1", moto.port) as proxy:
        through_proxy = SqsClientOptions(
            endpoint_url=f"http://127.0.0.1:{proxy.port}",
            access_key_id="test",
            secret_access_key="test",
        )
        settings = order_settings(database_url, through_proxy, queue_prefix)
        async with running_order_service(settings) as service:
            proxy.cut()
            accepted = []
            for i in range(20):
                reply = await service.http.post("/orders", json={"userId": "u", "total": i + 1})
                assert reply.status_code == 201
                accepted.append(reply.json()["id"])
            not_ready = await service.http.get("/health/ready")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"]["sqs"].startswith("failing")
            assert await service.runtime.relay.backlog() == 20

            proxy.restore()
            await wait_for_value(
                service.runtime.relay.backlog, lambda n: n == 0, timeout_s=90, what="empty outbox"
            )

    async with open_sqs_client(sqs_options) as client:
        url = (await client.get_queue_url(QueueName=settings.orders_queue))["QueueUrl"]
        messages = await receive_messages(client, url, 20, timeout_s=30)
    published = {str(decode_event(m["Body"]).data.order_id) for m in messages}
    assert published == set(accepted)
