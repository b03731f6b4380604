"""Dependencies of the routes: the running runtime, its engine and settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from order_service.settings import Settings
from orderflow_servicekit import ProblemError, ServiceRuntime


async def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise ProblemError(503, "The service is starting.")
    return runtime


async def get_engine(runtime: Annotated[ServiceRuntime, Depends(get_runtime)]) -> AsyncEngine:
    return runtime.engine


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def require_json(request: Request) -> None:
    """415 for a body that is not declared as JSON (FastAPI would otherwise answer 422)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ProblemError(
            415,
            "Send the order as JSON with Content-Type: application/json.",
            title="Unsupported Media Type",
        )


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
