"""CommonSettings: fail fast on bad values, normalise database URLs to their async drivers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orderflow_messaging import SqsClientOptions
from orderflow_servicekit.settings import CommonSettings

ENV_NAMES = [
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "SQS_ENDPOINT",
    "DATABASE_URL",
    "HOST",
    "PORT",
    "LOG_LEVEL",
    "ORDERS_QUEUE",
    "PAYMENT_RESULTS_QUEUE",
    "MAX_RECEIVE_COUNT",
    "VISIBILITY_TIMEOUT_S",
    "APPLY_TOPOLOGY",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def settings(**values: Any) -> CommonSettings:
    values.setdefault("database_url", "sqlite+aiosqlite:///data/test.db")
    values.setdefault("port", 3001)
    return CommonSettings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/orders", "postgresql+asyncpg://u:p@db:5432/orders"),
        ("postgresql://u:p@db/orders", "postgresql+asyncpg://u:p@db/orders"),
        ("postgresql+asyncpg://u@db/orders", "postgresql+asyncpg://u@db/orders"),
        ("sqlite:///data/orders.db", "sqlite+aiosqlite:///data/orders.db"),
        ("sqlite:////var/lib/orders.db", "sqlite+aiosqlite:////var/lib/orders.db"),
        ("sqlite+aiosqlite:///data/orders.db", "sqlite+aiosqlite:///data/orders.db"),
    ],
)
def test_database_urls_get_their_async_driver(given: str, expected: str) -> None:
    assert settings(database_url=given).database_url == expected


@pytest.mark.parametrize(
    "url", ["mysql://u@db/orders", "postgresql+psycopg2://u@db/orders", "orders.db", ""]
)
def test_a_database_url_of_another_scheme_is_rejected(url: str) -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        settings(database_url=url)


def test_settings_are_read_from_upper_case_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/orders")
    monkeypatch.setenv("PORT", "3002")
    monkeypatch.setenv("SQS_ENDPOINT", "http://127.0.0.1:4566")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    loaded = CommonSettings(_env_file=None)
    assert loaded.database_url == "postgresql+asyncpg://u@db/orders"
    assert loaded.port == 3002
    assert loaded.sqs_endpoint == "http://127.0.0.1:4566"
    assert loaded.log_level == "DEBUG"
    assert loaded.host == "127.0.0.1"
    assert (loaded.orders_queue, loaded.payment_results_queue) == ("orders", "payment-results")
    assert loaded.max_receive_count == 5


def test_a_blank_sqs_endpoint_and_blank_keys_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQS_ENDPOINT", "")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    loaded = settings()
    assert loaded.sqs_endpoint is None
    assert loaded.aws_access_key_id is None
    assert loaded.aws_secret_access_key is None
    assert loaded.sqs_options() == SqsClientOptions(region="us-east-1")


class _ServiceSettings(CommonSettings):
    """A service's own settings: blanks follow the field's type, with no list to keep."""

    database_url: str = "sqlite+aiosqlite:///x.db"
    port: int = 3000
    optional_with_default: int | None = 7
    required_number: int = 3


def test_a_blank_optional_setting_of_a_subclass_is_unset_and_a_blank_number_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPTIONAL_WITH_DEFAULT", "")
    monkeypatch.setenv("DB_POOL_SIZE", "")
    loaded = _ServiceSettings(_env_file=None)
    assert loaded.optional_with_default is None
    assert loaded.db_pool_size is None
    monkeypatch.setenv("REQUIRED_NUMBER", "")
    with pytest.raises(ValidationError, match="required_number"):
        _ServiceSettings(_env_file=None)


@pytest.mark.parametrize("level", ["verbose", "", "TRACE", "10"])
def test_an_unknown_log_level_is_rejected(level: str) -> None:
    with pytest.raises(ValidationError, match="LOG_LEVEL"):
        settings(log_level=level)


@pytest.mark.parametrize("level", ["debug", "Info", "WARNING", "error", "critical"])
def test_known_log_levels_are_accepted_in_any_case(level: str) -> None:
    assert settings(log_level=level).log_level == level.upper()


def test_a_missing_database_url_or_port_fails_fast() -> None:
    with pytest.raises(ValidationError, match="database_url"):
        CommonSettings(_env_file=None, port=1)
    with pytest.raises(ValidationError, match="port"):
        CommonSettings(_env_file=None, database_url="sqlite:///x.db")


@pytest.mark.parametrize(
    ("field", "value"), [("max_receive_count", 0), ("visibility_timeout_s", 43_201)]
)
def test_queue_numbers_out_of_the_sqs_range_are_rejected(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        settings(**{field: value})


def test_sqs_options_carry_region_endpoint_and_keys() -> None:
    loaded = settings(
        aws_region="eu-west-1",
        sqs_endpoint="http://127.0.0.1:4566",
        aws_access_key_id="test",
        aws_secret_access_key="secret",
    )
    assert loaded.sqs_options() == SqsClientOptions(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:4566",
        access_key_id="test",
        secret_access_key="secret",
    )


@pytest.mark.parametrize("port", [0, -1, 65_536])
def test_a_port_outside_the_tcp_range_is_refused(port: int) -> None:
    with pytest.raises(ValidationError, match="PORT must be between 1 and 65535"):
        settings(port=port)


def test_temporary_credentials_keep_their_session_token() -> None:
    options = settings(
        aws_access_key_id="ASIA...", aws_secret_access_key="s", aws_session_token="tok"
    ).sqs_options()
    assert options.session_token == "tok"
    assert settings(aws_session_token="").sqs_options().session_token is None
