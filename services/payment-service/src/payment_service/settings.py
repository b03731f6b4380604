"""payment-service settings: `CommonSettings` plus the provider and worker knobs.

Every field is read from the environment variable of the same name in upper case (or `.env`).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from orderflow_contracts import PAYMENT_SERVICE_PORT
from orderflow_servicekit import CommonSettings


class Settings(CommonSettings):
    """payment-service configuration.

    port: the ops HTTP port (health, metrics) (default 3002).
    database_url: payments, inbox and outbox (default the SQLite file `data/payment-service.db`).
    payment_approval_limit: the simulated provider declines totals above it (default 10000.00).
    payment_latency_ms: the simulated provider's latency per charge (default 0).
    payment_failure_rate: probability, 0..1, that a charge fails transiently and is retried
        (default 0.0); for demos and chaos tests.
    """

    database_url: str = "sqlite+aiosqlite:///data/payment-service.db"
    port: int = Field(default=PAYMENT_SERVICE_PORT, ge=1, le=65_535)
    payment_approval_limit: Decimal = Field(
        default=Decimal("10000.00"), gt=0, max_digits=12, decimal_places=2
    )
    payment_latency_ms: int = Field(default=0, ge=0, le=60_000)
    payment_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
