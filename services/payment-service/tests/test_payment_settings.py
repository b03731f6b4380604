"""Settings: defaults, environment variable names, validation, and `.env.example`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from payment_service.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
FIELDS = {name.upper() for name in Settings.model_fields}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in FIELDS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file


def test_the_defaults_are_the_documented_ones() -> None:
    settings = Settings()
    assert settings.port == 3002
    assert settings.database_url == "sqlite+aiosqlite:///data/payment-service.db"
    assert settings.payment_approval_limit == Decimal("10000.00")
    assert settings.payment_latency_ms == 0
    assert settings.payment_failure_rate == 0.0
    assert settings.consumer_concurrency == 10
    assert settings.relay_poll_interval_s == 1.0
    assert settings.shutdown_grace_s == 10.0
    assert settings.orders_queue == "orders"
    assert settings.payment_results_queue == "payment-results"


def test_each_setting_is_read_from_its_upper_case_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENT_APPROVAL_LIMIT", "50.25")
    monkeypatch.setenv("PAYMENT_LATENCY_MS", "15")
    monkeypatch.setenv("PAYMENT_FAILURE_RATE", "0.5")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/payments")
    monkeypatch.setenv("PORT", "4002")
    settings = Settings()
    assert settings.payment_approval_limit == Decimal("50.25")
    assert settings.payment_latency_ms == 15
    assert settings.payment_failure_rate == 0.5
    assert settings.database_url == "postgresql+asyncpg://u@db/payments"
    assert settings.port == 4002


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PAYMENT_FAILURE_RATE", "1.01"),
        ("PAYMENT_FAILURE_RATE", "-0.1"),
        ("PAYMENT_LATENCY_MS", "-1"),
        ("PAYMENT_APPROVAL_LIMIT", "0"),
        ("PAYMENT_APPROVAL_LIMIT", "10.001"),
        ("CONSUMER_CONCURRENCY", "0"),
        ("RELAY_POLL_INTERVAL_S", "0"),
        ("SHUTDOWN_GRACE_S", "-1"),
        ("PORT", "70000"),
    ],
)
def test_out_of_range_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_env_example_lists_every_setting_with_its_default() -> None:
    listed = [
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert sorted(listed) == sorted(FIELDS)
    assert Settings(_env_file=ENV_EXAMPLE) == Settings(_env_file=None)
