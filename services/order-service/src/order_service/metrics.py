"""Prometheus metrics of order-service (the default registry, served at /metrics).

HTTP, messaging, outbox and queue metrics come from orderflow_servicekit.telemetry; these are
the business ones: orders created, orders settled, and the end-to-end latency from an order's
creation to its payment result being applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from prometheus_client import Counter, Histogram

from order_service.domain import TERMINAL, OrderStatus
from orderflow_messaging import utcnow
from orderflow_servicekit import SLOW_BUCKETS

ORDERS_CREATED: Final = Counter(
    "orderflow_orders_created_total", "Orders placed (an idempotent replay is not a new order)."
)
ORDERS_SETTLED: Final = Counter(
    "orderflow_orders_settled_total",
    "Orders that reached a final status: paid or payment_failed.",
    ["status"],
)
SETTLEMENT_SECONDS: Final = Histogram(
    "orderflow_order_settlement_seconds",
    "End-to-end latency: from the order's creation to its payment result applied, by status.",
    ["status"],
    buckets=SLOW_BUCKETS,
)
for _status in TERMINAL:
    # Both series exist from the start: a rate or a ratio over them never lacks a side.
    ORDERS_SETTLED.labels(_status.value)
    SETTLEMENT_SECONDS.labels(_status.value)


def order_settled(status: OrderStatus, created_at: datetime) -> None:
    """Count a settled order and observe how long it took since it was placed."""
    ORDERS_SETTLED.labels(status.value).inc()
    SETTLEMENT_SECONDS.labels(status.value).observe(
        max(0.0, (utcnow() - created_at).total_seconds())
    )
