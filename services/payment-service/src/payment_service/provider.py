"""The payment provider seam and the deterministic simulated provider.

    ProviderError
    └── ProviderUnavailable    transient: the charge did not happen; retry later

Idempotency is what makes the handler safe: it charges *outside* its database transaction, so a
crash between the charge and the commit redelivers the event and charges again, with the same
idempotency key (the order id). A provider that honours idempotency keys, as real ones do (Stripe
replays the stored response for a key it has seen), answers the retry with the original result
and reference instead of charging twice.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol

LIMIT_EXCEEDED: Final = "limit_exceeded"
"""The reason the simulated provider gives for a total above its approval limit."""

_REFERENCE_NAMESPACE: Final = uuid.UUID("5b0f3f8e-4c55-4d6f-9a61-0e6f1d7c2a10")


class ProviderError(Exception):
    """Base class of every error a payment provider raises."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or answered with a transient error: retry later."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeRequest:
    """One charge: `idempotency_key` makes a repeated request return the first result."""

    order_id: str
    amount: Decimal
    currency: str
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeResult:
    """The provider's answer: approved, or declined with a reason; `reference` is its id."""

    approved: bool
    reason: str | None
    reference: str


class PaymentProvider(Protocol):
    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge once per idempotency key; raise `ProviderUnavailable` to be retried."""
        ...


class SimulatedProvider:
    """A deterministic provider for local runs, demos and tests.

    approval_limit: totals above it are declined with reason `limit_exceeded`; totals up to and
        including it are approved (default 10000.00).
    latency_ms: how long each charge takes (default 0).
    failure_rate: probability, 0..1, that a charge raises `ProviderUnavailable` before anything
        is charged (default 0.0).
    rng: the random source for failures (default a fresh `random.Random()`); pass a seeded one for
        reproducible chaos.
    remembered_keys: how many idempotency keys it remembers, oldest forgotten first
        (default 100,000). References are derived from the key, so even a forgotten key gets its
        original reference back.
    """

    def __init__(
        self,
        *,
        approval_limit: Decimal = Decimal("10000.00"),
        latency_ms: int = 0,
        failure_rate: float = 0.0,
        rng: random.Random | None = None,
        remembered_keys: int = 100_000,
    ) -> None:
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        self._approval_limit = approval_limit
        self._latency_s = latency_ms / 1000
        self._failure_rate = failure_rate
        # Simulated failures for demos and chaos tests: not security-relevant randomness.
        self._rng = rng or random.Random()  # noqa: S311
        self._remembered_keys = remembered_keys
        self._results: OrderedDict[str, ChargeResult] = OrderedDict()

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        if self._latency_s:
            # Simulates the provider's own response time; nothing here waits on a condition.
            await asyncio.sleep(self._latency_s)
        if self._failure_rate and self._rng.random() < self._failure_rate:
            raise ProviderUnavailable("simulated provider: transient failure injected")
        known = self._results.get(request.idempotency_key)
        if known is not None:
            self._results.move_to_end(request.idempotency_key)
            return known
        result = self._decide(request)
        self._results[request.idempotency_key] = result
        if len(self._results) > self._remembered_keys:
            self._results.popitem(last=False)
        return result

    def _decide(self, request: ChargeRequest) -> ChargeResult:
        reference = "sim_" + uuid.uuid5(_REFERENCE_NAMESPACE, request.idempotency_key).hex
        if request.amount > self._approval_limit:
            return ChargeResult(approved=False, reason=LIMIT_EXCEEDED, reference=reference)
        return ChargeResult(approved=True, reason=None, reference=reference)
