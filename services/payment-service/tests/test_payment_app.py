"""The ops app: health, readiness and metrics, before, while and after the worker runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from orderflow_messaging import SqsClientOptions
from orderflow_servicekit.runtime import ServiceRuntime, spawn_logged
from payment_service.main import create_app
from payment_service.settings import Settings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The lifespan configures the root logger; give the next test the one it had."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def settings_for(database_url: str, sqs_options: SqsClientOptions, prefix: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        sqs_endpoint=sqs_options.endpoint_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        orders_queue=f"{prefix}orders",
        payment_results_queue=f"{prefix}payment-results",
    )


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops")


async def test_before_the_worker_starts_it_is_live_but_not_ready(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/p.db")
    app = create_app(settings)
    async with client_for(app) as http:
        live = await http.get("/health/live")
        ready = await http.get("/health/ready")
        metrics = await http.get("/metrics")
        missing = await http.get("/docs")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["readiness"] == "starting"
    assert ready.headers["content-type"] == "application/problem+json"
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "orderflow_payments_total" in metrics.text
    assert "orderflow_messages_handled_total" in metrics.text
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_ready_once_the_database_sqs_and_worker_answer_and_503_when_the_consumer_stops(
    database_url: str, sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    app = create_app(settings_for(database_url, sqs_options, queue_prefix))
    async with app.router.lifespan_context(app), client_for(app) as http:
        ready = await http.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "sqs": "ok", "worker": "ok"}

        runtime: ServiceRuntime = app.state.runtime
        assert runtime.consumer is not None
        runtime.consumer.stop()
        await asyncio.wait_for(asyncio.gather(*runtime.tasks[:1]), 10)
        stopped = await http.get("/health/ready")
        assert stopped.status_code == 503
        assert stopped.json()["checks"]["worker"].startswith("failing")
    assert app.state.runtime is None


async def test_a_crashed_background_task_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def crash() -> None:
        raise RuntimeError("boom")

    task = spawn_logged(crash(), "consumer")
    # The logging callback was added first, so it has run by the time gather returns.
    await asyncio.gather(task, return_exceptions=True)

    [record] = [r for r in caplog.records if r.name == "orderflow.runtime"]
    assert record.levelno == logging.ERROR
    assert "consumer crashed: RuntimeError: boom" in record.getMessage()
