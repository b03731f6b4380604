"""`python -m payment_service` as a real process: start, pay, drain and stop on SIGTERM, or
refuse to start with one clear line."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderflow_contracts import (
    PAYMENT_SUCCEEDED,
    OrderCreated,
    OrderCreatedData,
    encode_event,
    uuid7,
)
from orderflow_messaging import EVENT_TYPE_ATTRIBUTE, SqsClientOptions, open_sqs_client, utcnow
from orderflow_testkit.waiting import free_port, port_is_listening, wait_for_value
from payment_service.settings import Settings

STOP_DEADLINE_S = 30


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    orders: str
    results: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return await asyncio.to_thread(self.process.wait, STOP_DEADLINE_S)


def service_env(**values: str) -> dict[str, str]:
    """The environment minus any payment-service setting from outside, plus `values`."""
    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(values)
    return env


@pytest.fixture
def start(tmp_path: Path, moto_endpoint: str, queue_prefix: str) -> Iterator[Any]:
    """Start payment-service with its own port, SQLite file and queues; kill it if left running."""
    started: list[subprocess.Popen[bytes]] = []

    def _start(**overrides: str) -> Service:
        port = free_port()
        orders, results = f"{queue_prefix}orders", f"{queue_prefix}payment-results"
        values = {
            "PORT": str(port),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'payment-service.db'}",
            "SQS_ENDPOINT": moto_endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "ORDERS_QUEUE": orders,
            "PAYMENT_RESULTS_QUEUE": results,
            "LOG_LEVEL": "INFO",
        }
        values.update(overrides)
        log = tmp_path / f"stderr-{len(started)}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "payment_service"],
                env=service_env(**values),
                cwd=tmp_path,  # no stray .env file is read
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        started.append(process)
        return Service(process, port, log, orders, results)

    yield _start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def wait_ready(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url, timeout=2) as http:

        async def probe() -> int:
            if service.process.poll() is not None:
                raise AssertionError(f"payment-service exited early:\n{service.stderr()}")
            try:
                return (await http.get("/health/ready")).status_code
            except httpx.TransportError:
                return 0

        await wait_for_value(probe, lambda status: status == 200, timeout_s=60, what="ready")


def order_created(total: str = "42.00") -> OrderCreated:
    return OrderCreated(
        source="/orderflow/order-service",
        data=OrderCreatedData(
            order_id=uuid7(), user_id="dev-user", total=total, currency="USD", created_at=utcnow()
        ),
    )


async def send_order(client: Any, service: Service, event: OrderCreated) -> None:
    url = (await client.get_queue_url(QueueName=service.orders))["QueueUrl"]
    await client.send_message(QueueUrl=url, MessageBody=encode_event(event))


async def one_result(client: Any, service: Service) -> dict[str, Any]:
    url = (await client.get_queue_url(QueueName=service.results))["QueueUrl"]
    response = await wait_for_value(
        lambda: client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ),
        lambda r: bool(r.get("Messages")),
        timeout_s=30,
        what="a payment result",
    )
    message: dict[str, Any] = response["Messages"][0]
    return message


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_service_pays_an_order_and_stops_cleanly_on_a_signal(
    start: Any, sqs_options: SqsClientOptions, stop_signal: signal.Signals
) -> None:
    service: Service = start()
    await wait_ready(service)
    event = order_created()
    async with open_sqs_client(sqs_options) as client:
        await send_order(client, service, event)
        result = await one_result(client, service)
    assert result["MessageAttributes"][EVENT_TYPE_ATTRIBUTE]["StringValue"] == PAYMENT_SUCCEEDED
    assert str(event.data.order_id) in result["Body"]
    async with httpx.AsyncClient(base_url=service.url) as http:
        live = await http.get("/health/live")
        metrics = await http.get("/metrics")
    assert live.status_code == 200
    assert 'orderflow_payments_total{status="succeeded"} 1.0' in metrics.text

    assert await service.stop(stop_signal) == 0
    assert not port_is_listening(service.port)
    assert "Traceback" not in service.stderr()


async def test_sigterm_lets_an_in_flight_payment_finish_and_publish_its_result(
    start: Any, sqs_options: SqsClientOptions
) -> None:
    service: Service = start(PAYMENT_LATENCY_MS="1500")
    await wait_ready(service)
    event = order_created()
    async with open_sqs_client(sqs_options) as client:
        await send_order(client, service, event)
        orders = (await client.get_queue_url(QueueName=service.orders))["QueueUrl"]

        async def in_flight() -> str:
            attributes = await client.get_queue_attributes(
                QueueUrl=orders, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
            )
            return attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"]

        await wait_for_value(in_flight, lambda n: n == "1", what="the order being handled")
        assert await service.stop() == 0
        result = await one_result(client, service)
        left = await client.get_queue_attributes(
            QueueUrl=orders,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    assert str(event.data.order_id) in result["Body"]
    # Handled before the exit, so deleted: it will not be delivered again.
    assert left["Attributes"] == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


async def test_sqs_out_of_reach_stops_the_start_with_one_line_and_exit_code_1(
    start: Any,
) -> None:
    service: Service = start(SQS_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    code = await asyncio.to_thread(service.process.wait, STOP_DEADLINE_S)
    stderr = service.stderr()
    assert code == 1
    assert "cannot start: SQS at http://127.0.0.1:" in stderr
    assert "Traceback" not in stderr
    assert not port_is_listening(service.port)


async def test_an_unreachable_database_stops_the_start_with_one_line_and_exit_code_1(
    start: Any,
) -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/payments"
    service: Service = start(DATABASE_URL=url)
    code = await asyncio.to_thread(service.process.wait, STOP_DEADLINE_S)
    stderr = service.stderr()
    assert code == 1
    assert "cannot start: database postgresql+asyncpg://nobody:***@127.0.0.1:" in stderr
    assert "secret" not in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATABASE_URL", "mysql://localhost/payments"), ("PAYMENT_FAILURE_RATE", "2")],
)
async def test_invalid_settings_stop_the_start_with_one_line_and_exit_code_1(
    start: Any, name: str, value: str
) -> None:
    service: Service = start(**{name: value})
    code = await asyncio.to_thread(service.process.wait, STOP_DEADLINE_S)
    lines = service.stderr().strip().splitlines()
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"payment-service: invalid configuration: {name}:")


async def test_a_taken_port_stops_the_start_with_one_line_and_exit_code_1(start: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service: Service = start(PORT=str(port))
        code = await asyncio.to_thread(service.process.wait, STOP_DEADLINE_S)
    stderr = service.stderr()
    assert code == 1
    assert "address already in use" in stderr
    assert "Traceback" not in stderr
