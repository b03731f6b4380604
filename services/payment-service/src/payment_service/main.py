"""The payment-service application: an ops HTTP port around the worker; wiring only.

`/health/live`, `/health/ready` (503 until the database and SQS answer and the worker runs) and
`/metrics`. The lifespan runs the consumer of `orders` and the outbox relay, and drains them.
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orderflow_messaging import MessageHandler
from orderflow_servicekit import (
    RuntimeSpec,
    ServiceRuntime,
    http_telemetry,
    install_problem_handlers,
    instrument_app,
    prepare_service_app,
    runtime_health_router,
    runtime_lifespan,
    runtime_middleware,
)
from payment_service import metrics
from payment_service.db.tables import inbox, outbox
from payment_service.handler import OrderCreatedHandler, order_created_handler
from payment_service.migrate import MIGRATIONS
from payment_service.provider import PaymentProvider, SimulatedProvider
from payment_service.settings import Settings

SERVICE: Final = "payment-service"
SOURCE: Final = "/orderflow/payment-service"
"""The CloudEvents `source` of the payment results."""


def provider_from(settings: Settings) -> PaymentProvider:
    return SimulatedProvider(
        approval_limit=settings.payment_approval_limit,
        latency_ms=settings.payment_latency_ms,
        failure_rate=settings.payment_failure_rate,
    )


def runtime_spec(settings: Settings, provider: PaymentProvider | None = None) -> RuntimeSpec:
    """provider: who charges (default: the simulated provider configured by `settings`)."""
    charger = metrics.MeasuredProvider(provider or provider_from(settings))

    def handler(runtime: ServiceRuntime) -> MessageHandler:
        return order_created_handler(
            OrderCreatedHandler(
                engine=runtime.engine,
                provider=charger,
                inbox=runtime.inbox,
                outbox=outbox,
                relay=runtime.relay,
                source=SOURCE,
                results_queue=settings.payment_results_queue,
            )
        )

    return RuntimeSpec(
        service=SERVICE,
        settings=settings,
        migrations=MIGRATIONS,
        outbox=outbox,
        inbox=inbox,
        consumes=settings.orders_queue,
        handler=handler,
        middleware=runtime_middleware(),
    )


def create_app(
    settings: Settings | None = None, provider: PaymentProvider | None = None
) -> FastAPI:
    """The ops app; its lifespan runs the worker (default settings: from the environment).

    provider: who charges (default: the simulated provider configured by `settings`).
    """
    settings = settings or Settings()
    app = FastAPI(
        title="payment-service",
        version="0.1.0",
        description="Charges orders: consumes orderflow.order.created.v1, publishes payment "
        "results. This port serves only health and metrics.",
        lifespan=runtime_lifespan(runtime_spec(settings, provider)),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=http_telemetry(),
    )
    prepare_service_app(app, settings=settings)
    install_problem_handlers(app)
    instrument_app(app, SERVICE)
    app.include_router(runtime_health_router(app))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
