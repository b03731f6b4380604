"""The load of a chaos scenario: orders placed over HTTP the way a careful client does.

`OrderLoad` sends every request with an Idempotency-Key of its own and retries it while the
service is down, so a request that timed out after its commit is neither lost nor placed twice;
only the ids answered with 201 count as accepted. `order_total` makes the totals deterministic,
every n-th above the approval limit, and `LoadReport` is what a run placed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import httpx

from orderflow_testkit.options import APPROVAL_LIMIT
from orderflow_testkit.waiting import wait_for_value


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadReport:
    """What a load run placed: `accepted` maps each order answered 201 to its total."""

    requested: int
    accepted: Mapping[str, Decimal]
    not_accepted: Mapping[int, str]
    retries: int
    started_at: float
    finished_at: float

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at


def order_total(index: int, over_limit_every: int) -> Decimal:
    """Deterministic totals: every `over_limit_every`-th is above the approval limit."""
    if over_limit_every and index % over_limit_every == 0:
        return APPROVAL_LIMIT + Decimal("0.01") + index
    return Decimal(f"{1 + (index * 7919) % 9000}.{index % 100:02d}")


class OrderLoad:
    """POST /orders `count` times, at most `concurrency` at once (default 16).

    Every request carries an Idempotency-Key of its own and is retried with that key after a
    transport error or a 5xx, until `give_up_after_s` (default 60 s); a request still failing
    then counts as not accepted, and so does one answered with a 4xx.
    rate_per_s: request i starts no earlier than i / rate (default 30, about what moto carries
        end to end, so the queues stay shallow and the load outlasts a fault; None: no pacing).
    over_limit_every: every n-th order is above the approval limit (default 8).
    request_timeout_s: per request (default 10 s).
    """

    def __init__(
        self,
        base_url: str,
        count: int,
        *,
        concurrency: int = 16,
        rate_per_s: float | None = 30.0,
        over_limit_every: int = 8,
        give_up_after_s: float = 60.0,
        request_timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url
        self.count = count
        self.concurrency = concurrency
        self.rate_per_s = rate_per_s
        self.over_limit_every = over_limit_every
        self.give_up_after_s = give_up_after_s
        self.request_timeout_s = request_timeout_s
        self.accepted: dict[str, Decimal] = {}
        self.not_accepted: dict[int, str] = {}
        self.retries = 0
        self._run_id = uuid.uuid4().hex[:12]

    async def wait_accepted(self, count: int, timeout_s: float = 60.0) -> None:
        async def accepted() -> int:
            return len(self.accepted)

        await wait_for_value(
            accepted,
            lambda n: n >= count,
            timeout_s=timeout_s,
            interval_s=0.02,
            what=f"{count} orders accepted",
        )

    async def run(self) -> LoadReport:
        started = time.monotonic()
        slots = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency)
        async with (
            httpx.AsyncClient(
                base_url=self.base_url, timeout=self.request_timeout_s, limits=limits
            ) as client,
            asyncio.TaskGroup() as group,
        ):
            for index in range(self.count):
                if self.rate_per_s:
                    # Pacing the load, not waiting for state: request i starts at i / rate.
                    delay = started + index / self.rate_per_s - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await slots.acquire()
                task = group.create_task(self._place(client, index))
                task.add_done_callback(lambda _: slots.release())
        return LoadReport(
            requested=self.count,
            accepted=dict(self.accepted),
            not_accepted=dict(self.not_accepted),
            retries=self.retries,
            started_at=started,
            finished_at=time.monotonic(),
        )

    async def _place(self, client: httpx.AsyncClient, index: int) -> None:
        total = order_total(index, self.over_limit_every)
        body = {"userId": f"chaos-{index % 20}", "total": str(total)}
        headers = {"Idempotency-Key": f"chaos-{self._run_id}-{index}"}
        deadline = time.monotonic() + self.give_up_after_s
        attempt = 0
        while True:
            try:
                response = await client.post("/orders", json=body, headers=headers)
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 201:
                    self.accepted[str(response.json()["id"])] = total
                    return
                why = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500:
                    self.not_accepted[index] = why  # the request itself is wrong: no retry
                    return
            attempt += 1
            if time.monotonic() > deadline:
                self.not_accepted[index] = why
                return
            self.retries += 1
            # Back off between retries of this one request (its own pace, not a wait for state).
            await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
