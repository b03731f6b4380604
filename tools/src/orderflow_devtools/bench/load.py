"""The load generator both sides get: `POST /orders` over keep-alive HTTP/1.1 (aiohttp).

Closed loop: `concurrency` workers, each sending its next request when the previous one is
answered, until `count` requests have been sent. Open loop: requests started at a fixed rate,
whatever the answers do (to see latency at a given offered load).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson


@dataclass(slots=True)
class LoadResult:
    """What one run of requests gave: answer latencies, wall time, failures, answered orders."""

    latencies_ms: list[float] = field(default_factory=list)
    started_at: float = 0.0  # wall clock (time.time()) of the first request
    duration_s: float = 0.0
    errors: int = 0
    orders: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0


def _session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30), json_serialize=str
    )


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, result: LoadResult, keep: bool
) -> None:
    start = time.perf_counter()
    try:
        async with session.post(
            url, data=body, headers={"Content-Type": "application/json"}
        ) as response:
            payload = await response.read()
            if response.status != 201:
                result.errors += 1
                return
    except (aiohttp.ClientError, TimeoutError):
        result.errors += 1
        return
    result.latencies_ms.append((time.perf_counter() - start) * 1000)
    if keep:
        result.orders.append(orjson.loads(payload))


def order_body(user_id: str, total: str = "42.00") -> bytes:
    return b'{"userId":"' + user_id.encode() + b'","total":' + total.encode() + b"}"


async def closed_loop(
    url: str, body: bytes, count: int, *, concurrency: int = 32, keep_orders: bool = False
) -> LoadResult:
    result = LoadResult()
    remaining = count

    async with _session(concurrency) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await _post(session, url, body, result, keep_orders)

        result.started_at = time.time()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.duration_s = time.perf_counter() - start
    return result


async def open_loop(
    url: str, body: bytes, count: int, *, rate_per_s: float, keep_orders: bool = False
) -> LoadResult:
    """`count` requests started `1/rate_per_s` apart (at most 256 in flight)."""
    result = LoadResult()
    gate = asyncio.Semaphore(256)
    tasks: list[asyncio.Task[None]] = []

    async with _session(256) as session:

        async def one() -> None:
            async with gate:
                await _post(session, url, body, result, keep_orders)

        result.started_at = time.time()
        start = time.perf_counter()
        for i in range(count):
            delay = start + i / rate_per_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        result.duration_s = time.perf_counter() - start
    return result


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 50), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2) if values else 0.0,
    }
