"""Settings every service shares, read from the environment (and a `.env` file) by name."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderflow_messaging import QueueSpec, SqsClientOptions
from orderflow_servicekit.topology import orderflow_queues


def settings_error(exc: ValidationError) -> str:
    """What is wrong with the settings, on one line, each problem named by its variable.

    `DATABASE_URL: must be a postgresql:// or sqlite:/// URL; PORT: ...`: the names a user sets,
    not pydantic's field paths, and never the rejected values (they may be secrets).
    """
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
        for err in exc.errors()
    )


class BlankIsUnset(BaseSettings):
    """A blank value (`NAME=` in a `.env` file or Compose) leaves an optional setting unset.

    Which settings are optional follows from their types, so a new `X | None` field needs no
    list kept by hand; a blank value for any other setting stays an error.
    """

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object, info: ValidationInfo) -> object:
        if value != "" or info.field_name is None:
            return value
        optional = type(None) in get_args(cls.model_fields[info.field_name].annotation)
        return None if optional else value


class SqsSettings(BlankIsUnset):
    """Where SQS is and which queues orderflow uses: what the services and the CLI share.

    Every field is read from the environment variable of the same name in upper case.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    aws_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    sqs_endpoint: str | None = Field(
        default=None, description="An SQS-compatible engine; unset means real AWS SQS."
    )
    orders_queue: str = "orders"
    payment_results_queue: str = "payment-results"
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    visibility_timeout_s: int = Field(default=30, ge=0, le=43_200)
    apply_topology: bool = Field(
        default=True,
        description="Create or update the queues at start-up (off where IaC owns them).",
    )

    def sqs_options(self) -> SqsClientOptions:
        return SqsClientOptions(
            region=self.aws_region,
            endpoint_url=self.sqs_endpoint,
            access_key_id=self.aws_access_key_id,
            secret_access_key=self.aws_secret_access_key,
            session_token=self.aws_session_token,
        )

    def queue_specs(self) -> list[QueueSpec]:
        """orderflow's topology with these names and limits."""
        return orderflow_queues(
            orders=self.orders_queue,
            payment_results=self.payment_results_queue,
            max_receive_count=self.max_receive_count,
            visibility_timeout_s=self.visibility_timeout_s,
        )


class CommonSettings(SqsSettings):
    """SQS, database, HTTP, logging and tracing settings; each service subclasses it."""

    database_url: str
    host: str = "127.0.0.1"
    port: int
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="`json` lines, readable `console` lines, or `auto`: JSON unless stderr is a "
        "terminal.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="Export spans over OTLP/HTTP to this collector (`/v1/traces` is appended); "
        "unset: no spans are exported, the trace context still flows through the events.",
    )
    otel_service_name: str | None = Field(
        default=None, description="The service name on exported spans (default: the service's)."
    )
    metrics_sample_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often queue depths and the outbox backlog are sampled for /metrics.",
    )
    consumer_concurrency: int = Field(
        default=10, ge=1, le=1000, description="Messages handled at once by the consumer."
    )
    relay_poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="The outbox relay's slow poll; it is also woken after every commit.",
    )
    shutdown_grace_s: float = Field(
        default=10.0, ge=0, description="How long a stop lets in-flight messages finish."
    )
    db_pool_size: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Database connections kept open (as many more may open at peaks). Unset: the "
        "consumer concurrency + 10, for the handlers, the relay and the health checks. A pool "
        "smaller than the work in flight makes requests queue for a connection, and the "
        "peak connections beyond it are opened and closed again and again.",
    )

    @field_validator("port")
    @classmethod
    def _valid_port(cls, value: int) -> int:
        if not 1 <= value <= 65_535:
            raise ValueError("PORT must be between 1 and 65535")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_in_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("DATABASE_URL must be a postgresql:// or sqlite:/// URL")
        return value
