"""The simulated provider: the approval limit, idempotency keys, injected failures."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from payment_service.provider import (
    LIMIT_EXCEEDED,
    ChargeRequest,
    ProviderUnavailable,
    SimulatedProvider,
)


def request(amount: str, key: str = "order-1") -> ChargeRequest:
    return ChargeRequest(order_id=key, amount=Decimal(amount), currency="USD", idempotency_key=key)


@pytest.mark.parametrize("amount", ["0.01", "42.00", "9999.99", "10000.00"])
async def test_totals_up_to_and_including_the_limit_are_approved(amount: str) -> None:
    result = await SimulatedProvider().charge(request(amount))
    assert result.approved
    assert result.reason is None
    assert result.reference.startswith("sim_")


@pytest.mark.parametrize("amount", ["10000.01", "20000.00", "1000000.00"])
async def test_totals_above_the_limit_are_declined_with_limit_exceeded(amount: str) -> None:
    result = await SimulatedProvider().charge(request(amount))
    assert not result.approved
    assert result.reason == LIMIT_EXCEEDED


async def test_the_limit_is_configurable() -> None:
    provider = SimulatedProvider(approval_limit=Decimal("50.00"))
    assert (await provider.charge(request("50.00", "a"))).approved
    assert not (await provider.charge(request("50.01", "b"))).approved


async def test_the_same_idempotency_key_returns_the_first_result_and_reference() -> None:
    provider = SimulatedProvider()
    first = await provider.charge(request("42.00", "order-1"))
    again = await provider.charge(request("42.00", "order-1"))
    # A retried request with other parameters still replays the first answer, as Stripe does.
    changed = await provider.charge(request("20000.00", "order-1"))
    assert again == first
    assert changed == first


async def test_a_new_provider_gives_a_key_the_same_reference() -> None:
    # The process may restart between a charge and its commit; the reference must not change.
    first = await SimulatedProvider().charge(request("42.00", "order-1"))
    after_restart = await SimulatedProvider().charge(request("42.00", "order-1"))
    assert after_restart.reference == first.reference


async def test_different_keys_get_different_references() -> None:
    provider = SimulatedProvider()
    a = await provider.charge(request("42.00", "order-1"))
    b = await provider.charge(request("42.00", "order-2"))
    assert a.reference != b.reference


async def test_a_failure_rate_of_one_always_raises_provider_unavailable() -> None:
    provider = SimulatedProvider(failure_rate=1.0)
    for key in ("a", "b", "c"):
        with pytest.raises(ProviderUnavailable):
            await provider.charge(request("42.00", key))


async def test_injected_failures_follow_the_seeded_random_source() -> None:
    async def run(seed: int) -> list[bool]:
        provider = SimulatedProvider(failure_rate=0.5, rng=random.Random(seed))
        failed = []
        for i in range(20):
            try:
                await provider.charge(request("1.00", f"k{i}"))
                failed.append(False)
            except ProviderUnavailable:
                failed.append(True)
        return failed

    first, second = await run(7), await run(7)
    assert first == second
    assert any(first)
    assert not all(first)


async def test_a_failure_rate_of_zero_never_raises() -> None:
    provider = SimulatedProvider(failure_rate=0.0, rng=random.Random(1))
    for i in range(50):
        await provider.charge(request("1.00", f"k{i}"))


@pytest.mark.parametrize(("latency_ms", "failure_rate"), [(-1, 0.0), (0, -0.1), (0, 1.5)])
def test_invalid_options_are_refused(latency_ms: int, failure_rate: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        SimulatedProvider(latency_ms=latency_ms, failure_rate=failure_rate)


async def test_a_forgotten_key_still_gets_its_reference_back() -> None:
    provider = SimulatedProvider(remembered_keys=1)
    first = await provider.charge(request("42.00", "order-1"))
    await provider.charge(request("42.00", "order-2"))
    assert await provider.charge(request("42.00", "order-1")) == first
