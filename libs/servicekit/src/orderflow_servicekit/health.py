"""`/health/live` and `/health/ready`: readiness asks the same resources the service uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderflow_servicekit.problems import problem_response

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

Check = Callable[[], Awaitable[None]]


def database_check(engine: AsyncEngine) -> Check:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def sqs_check(client: SQSClient, queue_url: str) -> Check:
    async def check() -> None:
        await client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])

    return check


def health_router(checks: Callable[[], Mapping[str, Check]], timeout_s: float = 2.0) -> APIRouter:
    """Routes for liveness and readiness; `checks` is asked per request (empty until started)."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/ready",
        summary="The database and SQS answer",
        responses={
            503: {
                "description": "Starting, or a dependency does not answer (problem+json)",
                "content": {"application/problem+json": {}},
            }
        },
    )
    async def ready() -> JSONResponse:
        current = checks()
        if not current:
            return problem_response(
                503, "The service is starting.", title="Not ready", readiness="starting", checks={}
            )
        # Checks run side by side: a slow dependency costs one timeout, not the sum of them.
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(check(), timeout_s) for check in current.values()),
            return_exceptions=True,
        )
        results = {
            name: "ok" if outcome is None else f"failing: {type(outcome).__name__}"
            for name, outcome in zip(current, outcomes, strict=True)
        }
        if all(v == "ok" for v in results.values()):
            return JSONResponse({"status": "ok", "checks": results})
        failing = ", ".join(name for name, v in results.items() if v != "ok")
        return problem_response(
            503,
            f"Not answering: {failing}.",
            title="Not ready",
            readiness="unavailable",
            checks=results,
        )

    return router
