"""The order-service application: wiring only."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import make_asgi_app

from order_service.api.routes import orders
from order_service.auth import build_authenticator
from order_service.db.tables import inbox, outbox
from order_service.migrate import MIGRATIONS
from order_service.results import payment_result_handler
from order_service.settings import Settings
from orderflow_servicekit import (
    BodySizeLimit,
    RuntimeSpec,
    http_telemetry,
    install_problem_handlers,
    instrument_app,
    prepare_service_app,
    runtime_health_router,
    runtime_lifespan,
    runtime_middleware,
)

SERVICE: Final = "order-service"


def runtime_spec(settings: Settings) -> RuntimeSpec:
    return RuntimeSpec(
        service=SERVICE,
        settings=settings,
        migrations=MIGRATIONS,
        outbox=outbox,
        inbox=inbox,
        consumes=settings.payment_results_queue,
        handler=lambda runtime: payment_result_handler(runtime.inbox),
        middleware=runtime_middleware(),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app; its lifespan runs the runtime (default settings: from the environment)."""
    settings = settings or Settings()
    app = FastAPIOffline(
        title="order-service",
        version="0.1.0",
        description="Takes orders and publishes `orderflow.order.created.v1` events to SQS "
        "through a transactional outbox; payment results settle them.",
        lifespan=runtime_lifespan(runtime_spec(settings)),
        redoc_url=None,
        telemetry=http_telemetry(),
    )
    prepare_service_app(app, settings=settings, authenticator=build_authenticator(settings))
    install_problem_handlers(app)
    instrument_app(app, SERVICE)
    app.include_router(orders.router)
    app.include_router(runtime_health_router(app))
    app.mount("/metrics", make_asgi_app())
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
