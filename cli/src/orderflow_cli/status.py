"""`orderflow status`: one snapshot of the running system, read from the services' /metrics.

Each service reports the queues it consumes (and their DLQs) and its outbox, sampled by its own
background task; order-service reports orders created and settled and the end-to-end latency
histogram. A service that does not answer is reported down; its queues and outbox are then
unknown, and the snapshot is still made from the other one.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from prometheus_client.parser import text_string_to_metric_families

from orderflow_contracts import ORDER_SERVICE_PORT, PAYMENT_SERVICE_PORT
from orderflow_messaging import dead_letter_name, is_dead_letter_name

DEFAULT_URLS: Final = {
    "order-service": f"http://127.0.0.1:{ORDER_SERVICE_PORT}",
    "payment-service": f"http://127.0.0.1:{PAYMENT_SERVICE_PORT}",
}
URL_VARIABLES: Final = {
    "order-service": "ORDER_SERVICE_URL",
    "payment-service": "PAYMENT_SERVICE_URL",
}
QUANTILES: Final = (0.5, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceState:
    name: str
    url: str
    up: bool
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueState:
    """A queue a service consumes; DLQ depth is the visible messages of its dead-letter queue."""

    queue: str
    consumer: str
    visible: int
    in_flight: int
    delayed: int
    dlq: str
    dlq_visible: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxState:
    service: str
    backlog: int
    oldest_age_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OrdersState:
    """created: orders placed since order-service started; per_second: the rate since the
    previous snapshot (None for the first); settlement_seconds: percentiles of the end-to-end
    latency of every order settled since order-service started (None without any)."""

    created: int | None = None
    per_second: float | None = None
    settled: Mapping[str, int] = field(default_factory=dict)
    settlement_seconds: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    taken_at: datetime
    services: Sequence[ServiceState]
    queues: Sequence[QueueState]
    outbox: Sequence[OutboxState]
    orders: OrdersState

    def as_json(self) -> dict[str, Any]:
        """The `--json` form: plain types, times in ISO 8601 UTC."""
        return {
            "time": self.taken_at.isoformat().replace("+00:00", "Z"),
            "services": {
                s.name: {"url": s.url, "up": s.up, "error": s.error} for s in self.services
            },
            "queues": [asdict(q) for q in self.queues],
            "outbox": [asdict(o) for o in self.outbox],
            "orders": {
                "created": self.orders.created,
                "per_second": _rounded(self.orders.per_second, 3),
                "settled": dict(self.orders.settled),
                "settlement_seconds": {
                    name: _rounded(value, 6)
                    for name, value in self.orders.settlement_seconds.items()
                },
            },
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def parse_metrics(text: str) -> list[Sample]:
    return [
        Sample(sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


async def scrape(
    client: httpx.AsyncClient, name: str, url: str
) -> tuple[ServiceState, list[Sample]]:
    """The service's samples, or it is down (with the reason) and there are none."""
    try:
        response = await client.get(f"{url.rstrip('/')}/metrics")
        response.raise_for_status()
        samples = parse_metrics(response.text)
    except httpx.HTTPStatusError as exc:
        return ServiceState(
            name=name, url=url, up=False, error=f"HTTP {exc.response.status_code}"
        ), []
    except httpx.ConnectError:
        return ServiceState(name=name, url=url, up=False, error="not reachable"), []
    except httpx.TimeoutException:
        return ServiceState(name=name, url=url, up=False, error="no answer in time"), []
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return ServiceState(name=name, url=url, up=False, error=reason), []
    except ValueError as exc:
        return ServiceState(name=name, url=url, up=False, error=f"unreadable /metrics: {exc}"), []
    return ServiceState(name=name, url=url, up=True), samples


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Estimate the q-quantile from cumulative (upper bound, count) buckets, as PromQL's
    histogram_quantile does: linear within the bucket, the highest finite bound past it."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def _count(value: float) -> int:
    return int(value) if math.isfinite(value) else 0


def queues_of(service: str, samples: Iterable[Sample]) -> list[QueueState]:
    depths: dict[str, dict[str, float]] = defaultdict(dict)
    for s in samples:
        if s.name == "orderflow_queue_messages":
            depths[s.labels.get("queue", "")][s.labels.get("state", "")] = s.value
    states: list[QueueState] = []
    for queue in sorted(q for q in depths if not is_dead_letter_name(q)):
        dlq = dead_letter_name(queue)
        dlq_visible = depths.get(dlq, {}).get("visible")
        states.append(
            QueueState(
                queue=queue,
                consumer=service,
                visible=_count(depths[queue].get("visible", 0.0)),
                in_flight=_count(depths[queue].get("in_flight", 0.0)),
                delayed=_count(depths[queue].get("delayed", 0.0)),
                dlq=dlq,
                dlq_visible=None if dlq_visible is None else _count(dlq_visible),
            )
        )
    return states


def outbox_of(service: str, samples: Iterable[Sample]) -> OutboxState | None:
    backlog: float | None = None
    age = 0.0
    for s in samples:
        if s.name == "orderflow_outbox_backlog":
            backlog = s.value
        elif s.name == "orderflow_outbox_oldest_age_seconds":
            age = s.value
    if backlog is None:
        return None  # not sampled yet (the service has just started)
    return OutboxState(service=service, backlog=_count(backlog), oldest_age_seconds=age)


def orders_of(
    samples: Iterable[Sample], taken_at: datetime, previous: Snapshot | None
) -> OrdersState:
    created: int | None = None
    settled: dict[str, int] = {}
    buckets: dict[float, float] = defaultdict(float)
    for s in samples:
        if s.name == "orderflow_orders_created_total":
            created = _count(s.value)
        elif s.name == "orderflow_orders_settled_total":
            settled[s.labels.get("status", "")] = _count(s.value)
        elif s.name == "orderflow_order_settlement_seconds_bucket":
            buckets[float(s.labels["le"])] += s.value
    per_second = None
    if previous is not None and created is not None and previous.orders.created is not None:
        elapsed = (taken_at - previous.taken_at).total_seconds()
        if elapsed > 0 and created >= previous.orders.created:
            per_second = (created - previous.orders.created) / elapsed
    percentiles = {f"p{round(q * 100)}": quantile(q, buckets.items()) for q in QUANTILES}
    return OrdersState(
        created=created, per_second=per_second, settled=settled, settlement_seconds=percentiles
    )


def http_client(timeout_s: float = 2.0) -> httpx.AsyncClient:
    """The client `take_snapshot` scrapes with (one for all refreshes of a live view)."""
    return httpx.AsyncClient(timeout=timeout_s, follow_redirects=True)


async def take_snapshot(
    client: httpx.AsyncClient, urls: Mapping[str, str], previous: Snapshot | None = None
) -> Snapshot:
    """Scrape every service at once; `previous` gives the rate of orders per second."""
    scraped = await asyncio.gather(*(scrape(client, name, url) for name, url in urls.items()))
    taken_at = datetime.now(UTC)
    by_service = {state.name: samples for state, samples in scraped}
    queues = [q for name, samples in by_service.items() for q in queues_of(name, samples)]
    outbox = [o for name, samples in by_service.items() if (o := outbox_of(name, samples))]
    return Snapshot(
        taken_at=taken_at,
        services=[state for state, _ in scraped],
        queues=sorted(queues, key=lambda q: q.queue),
        outbox=outbox,
        orders=orders_of(by_service.get("order-service", []), taken_at, previous),
    )
