"""orderflow's queues: declared once here, applied by the services and `orderflow queues init`."""

from __future__ import annotations

from orderflow_messaging import QueueSpec


def orderflow_queues(
    *,
    orders: str = "orders",
    payment_results: str = "payment-results",
    max_receive_count: int = 5,
    visibility_timeout_s: int = 30,
) -> list[QueueSpec]:
    """`orders` → `orders-dlq` and `payment-results` → `payment-results-dlq`, encrypted at rest
    with SQS-owned keys (`QueueSpec.sse`, on by default)."""
    return [
        QueueSpec(
            name=name,
            max_receive_count=max_receive_count,
            visibility_timeout_s=visibility_timeout_s,
        )
        for name in (orders, payment_results)
    ]
