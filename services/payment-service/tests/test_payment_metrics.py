"""payment-service's own metrics: provider latency by outcome."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from payment_service.metrics import MeasuredProvider
from payment_service.provider import ChargeRequest, ProviderUnavailable, SimulatedProvider


def charges(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "orderflow_payment_provider_seconds_count", {"outcome": outcome}
    )
    return value or 0.0


def request(amount: str, key: str) -> ChargeRequest:
    return ChargeRequest(order_id=key, amount=Decimal(amount), currency="USD", idempotency_key=key)


async def test_each_charge_is_timed_under_its_outcome() -> None:
    before = {o: charges(o) for o in ("approved", "declined", "error")}
    provider = MeasuredProvider(SimulatedProvider(approval_limit=Decimal("100.00")))

    assert (await provider.charge(request("10.00", "a"))).approved
    assert (await provider.charge(request("20.00", "b"))).approved
    assert not (await provider.charge(request("100.01", "c"))).approved
    with pytest.raises(ProviderUnavailable):
        await MeasuredProvider(SimulatedProvider(failure_rate=1.0)).charge(request("1.00", "d"))

    after = {o: charges(o) - before[o] for o in before}
    assert after == {"approved": 2, "declined": 1, "error": 1}
