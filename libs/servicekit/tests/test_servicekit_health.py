"""health_router: live always answers; ready is 200 only when every check passes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from orderflow_messaging import QueueSpec, SqsClientOptions, apply_topology, open_sqs_client
from orderflow_servicekit.db import create_engine
from orderflow_servicekit.health import Check, database_check, health_router, sqs_check


async def passing() -> None:
    return None


async def failing() -> None:
    raise ConnectionRefusedError("database down")


async def hanging() -> None:
    await asyncio.Event().wait()


@pytest.fixture
async def ready() -> AsyncIterator[tuple[dict[str, Check], httpx.AsyncClient]]:
    checks: dict[str, Check] = {}
    app = FastAPI()
    app.include_router(health_router(lambda: checks, timeout_s=0.2))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield checks, client


async def test_live_answers_200_whatever_the_checks_say(
    ready: tuple[dict[str, Check], httpx.AsyncClient],
) -> None:
    checks, client = ready
    checks["database"] = failing
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_is_503_until_checks_are_registered(
    ready: tuple[dict[str, Check], httpx.AsyncClient],
) -> None:
    _, client = ready
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["readiness"] == "starting"


async def test_ready_is_200_when_every_check_passes(
    ready: tuple[dict[str, Check], httpx.AsyncClient],
) -> None:
    checks, client = ready
    checks.update(database=passing, sqs=passing)
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "sqs": "ok"}}


async def test_ready_is_503_when_one_check_fails_and_names_it(
    ready: tuple[dict[str, Check], httpx.AsyncClient],
) -> None:
    checks, client = ready
    checks.update(database=failing, sqs=passing)
    response = await client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["status"] == 503
    assert body["readiness"] == "unavailable"
    assert "database" in body["detail"]
    assert body["checks"] == {"database": "failing: ConnectionRefusedError", "sqs": "ok"}
    assert "database down" not in response.text


async def test_a_check_that_hangs_fails_after_the_timeout(
    ready: tuple[dict[str, Check], httpx.AsyncClient],
) -> None:
    checks, client = ready
    checks.update(sqs=hanging)
    response = await asyncio.wait_for(client.get("/health/ready"), 5)
    assert response.status_code == 503
    assert response.json()["checks"]["sqs"] == "failing: TimeoutError"


async def test_database_and_sqs_checks_pass_against_real_resources_and_fail_without_them(
    tmp_path: Path, sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'health.db'}")
    try:
        await database_check(engine)()
        async with open_sqs_client(sqs_options) as client:
            urls = await apply_topology(client, [QueueSpec(name=f"{queue_prefix}orders")])
            await sqs_check(client, urls[f"{queue_prefix}orders"])()
            await client.delete_queue(QueueUrl=urls[f"{queue_prefix}orders"])
            with pytest.raises(Exception, match="does not exist"):
                await sqs_check(client, urls[f"{queue_prefix}orders"])()
    finally:
        await engine.dispose()
