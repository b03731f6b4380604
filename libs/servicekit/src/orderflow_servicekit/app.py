"""The parts of a service's FastAPI app that hold its runtime: lifespan, readiness, start-up."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderflow_messaging import one_line
from orderflow_servicekit.health import Check, health_router
from orderflow_servicekit.runtime import (
    RuntimeSpec,
    ServiceRuntime,
    StartupError,
    open_runtime,
)

logger = logging.getLogger("orderflow.app")

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


def runtime_lifespan(spec: RuntimeSpec) -> Lifespan:
    """A lifespan that runs the service's runtime and puts it at `app.state.runtime`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            try:
                runtime = await stack.enter_async_context(open_runtime(spec))
            except StartupError as exc:
                logger.error("%s cannot start: %s", spec.service, exc)
                raise
            except Exception as exc:
                logger.error("%s cannot start: %s", spec.service, one_line(exc))
                raise StartupError(one_line(exc)) from exc
            app.state.runtime = runtime
            try:
                yield
            finally:
                app.state.runtime = None
                logger.info("%s stopping", spec.service)

    return lifespan


def current_runtime(app: FastAPI) -> ServiceRuntime | None:
    runtime: ServiceRuntime | None = getattr(app.state, "runtime", None)
    return runtime


def runtime_health_router(app: FastAPI) -> APIRouter:
    """`/health/live` and `/health/ready`; not ready before the runtime started or after it."""

    def checks() -> Mapping[str, Check]:
        runtime = current_runtime(app)
        return runtime.checks() if runtime else {}

    return health_router(checks)


class OneLineStartupFailure:
    """Keep a failed start-up to the one line the lifespan logged.

    Starlette reports a lifespan that raised with its full traceback, which uvicorn prints; a
    missing queue or an unreachable database deserves one clear line instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return

        async def quiet_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                message = {"type": "lifespan.startup.failed", "message": ""}
            await send(message)

        await self._app(scope, receive, quiet_send)


def prepare_service_app(app: FastAPI, **state: Any) -> None:
    """Give `app` its start-up state and the one-line start-up failure."""
    app.state.runtime = None
    for name, value in state.items():
        setattr(app.state, name, value)
    app.add_middleware(OneLineStartupFailure)
