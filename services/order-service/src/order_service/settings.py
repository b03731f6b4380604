"""order-service settings, read from the environment (see `.env.example`)."""

from __future__ import annotations

from pydantic import Field

from order_service.auth.settings import JwtSettings
from orderflow_contracts import ORDER_SERVICE_PORT
from orderflow_servicekit import CommonSettings


class Settings(CommonSettings, JwtSettings):
    """Every field is read from the environment variable of the same name in upper case.

    The authentication fields (AUTH_MODE, JWT_*) are documented in `JwtSettings`.
    """

    port: int = ORDER_SERVICE_PORT
    database_url: str = "sqlite+aiosqlite:///data/order-service.db"
    default_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # The API's requests in flight come on top of the consumer's handlers and the relay.
    db_pool_size: int | None = Field(default=50, ge=1, le=1000)
