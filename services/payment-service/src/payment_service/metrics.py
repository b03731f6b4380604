"""Prometheus metrics of payment-service (the default registry, served at /metrics).

HTTP, messaging (received, handled by outcome, retried, dead-lettered), outbox and queue metrics
come from orderflow_servicekit.telemetry; these are the business ones.
"""

from __future__ import annotations

import time
from typing import Final

from prometheus_client import Counter, Histogram

from orderflow_servicekit import FAST_BUCKETS
from payment_service.db.tables import FAILED, SUCCEEDED
from payment_service.provider import ChargeRequest, ChargeResult, PaymentProvider

PAYMENTS: Final = Counter(
    "orderflow_payments_total", "Payments recorded, by status (succeeded, failed).", ["status"]
)
PAYMENT_EVENTS: Final = Counter(
    "orderflow_payment_events_total",
    "Order events handled to the end, by what they came to: paid (a payment recorded), "
    "already_paid (the order had one already) or duplicate (the event was handled before).",
    ["outcome"],
)
PROVIDER_SECONDS: Final = Histogram(
    "orderflow_payment_provider_seconds",
    "Time the payment provider took per charge, by outcome: approved, declined or error.",
    ["outcome"],
    buckets=FAST_BUCKETS,
)
for _status in (SUCCEEDED, FAILED):
    PAYMENTS.labels(_status)


class MeasuredProvider:
    """A provider that times each charge of `inner` by its outcome."""

    def __init__(self, inner: PaymentProvider) -> None:
        self._inner = inner

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        started = time.perf_counter()
        try:
            result = await self._inner.charge(request)
        except Exception:
            PROVIDER_SECONDS.labels("error").observe(time.perf_counter() - started)
            raise
        outcome = "approved" if result.approved else "declined"
        PROVIDER_SECONDS.labels(outcome).observe(time.perf_counter() - started)
        return result
