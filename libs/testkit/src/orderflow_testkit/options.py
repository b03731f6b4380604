"""How a chaos system is built.

`SystemOptions` says how many payment workers run, whether a `TcpProxy` sits in front of
PostgreSQL, the queues' timeouts and the services' tuning; `SERVICE_SETTINGS` names the settings
of the services that must come from the harness, never from the developer's shell; and
`APPROVAL_LIMIT` is the payment approval limit every system runs with, which the load and the
books both rely on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from orderflow_testkit.engines import selected_engine

APPROVAL_LIMIT: Final = Decimal("10000.00")

# Settings of the services that must come from the harness, never from the developer's shell.
SERVICE_SETTINGS: Final = frozenset(
    {
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SQS",
        "SQS_ENDPOINT",
        "DATABASE_URL",
        "HOST",
        "PORT",
        "LOG_LEVEL",
        "ORDERS_QUEUE",
        "PAYMENT_RESULTS_QUEUE",
        "APPLY_TOPOLOGY",
        "MAX_RECEIVE_COUNT",
        "VISIBILITY_TIMEOUT_S",
        "DEFAULT_CURRENCY",
        "MAX_BODY_BYTES",
        "CONSUMER_CONCURRENCY",
        "RELAY_POLL_INTERVAL_S",
        "SHUTDOWN_GRACE_S",
        "PAYMENT_APPROVAL_LIMIT",
        "PAYMENT_LATENCY_MS",
        "PAYMENT_FAILURE_RATE",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemOptions:
    """How a chaos system is built.

    payment_workers: payment-service processes on the one orders queue (default 1).
    database_proxy: put a `TcpProxy` between both services and PostgreSQL (default False).
    visibility_timeout_s: the queues' visibility timeout; small, so the work of a killed worker
        comes back soon (default 5).
    max_receive_count: receives before SQS moves a message to its DLQ (default 5).
    consumer_concurrency: handlers at once per service (default 10).
    shutdown_grace_s: how long in-flight handlers may finish on SIGTERM (default 5).
    relay_poll_interval_s: the outbox relays' slow poll (default 0.5).
    payment_latency_ms: the simulated provider's latency (default 0).
    extra_env: more environment for every service (default none).
    engine: the SQS engine, "moto" or "fauxqs" (default: `$ORDERFLOW_TEST_ENGINE`, else moto).
    """

    payment_workers: int = 1
    database_proxy: bool = False
    visibility_timeout_s: int = 5
    max_receive_count: int = 5
    consumer_concurrency: int = 10
    shutdown_grace_s: float = 5.0
    relay_poll_interval_s: float = 0.5
    payment_latency_ms: int = 0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    engine: str = field(default_factory=selected_engine)

    def __post_init__(self) -> None:
        if self.payment_workers < 1:
            raise ValueError("payment_workers must be at least 1")
