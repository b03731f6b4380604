"""What the CLI knows about the two services: module, default port and database settings.

The service packages are imported only inside the functions that need them, so `orderflow --help`
and `orderflow queues init` stay fast and work on a machine that has only the CLI's libraries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from orderflow_cli.errors import CliError
from orderflow_contracts import ORDER_SERVICE_PORT, PAYMENT_SERVICE_PORT
from orderflow_servicekit.db import redact
from orderflow_servicekit.settings import CommonSettings, settings_error


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceInfo:
    """One service as the CLI starts and migrates it.

    name: the service's name, used in logs and file names ("order-service").
    module: its Python package; `python -m <module>` runs it.
    database_env: the variable that names its database when the CLI manages both services.
    default_port: the port `orderflow up` gives it unless told otherwise.
    """

    name: str
    module: str
    database_env: str
    default_port: int


ORDER_SERVICE = ServiceInfo(
    name="order-service",
    module="order_service",
    database_env="ORDER_DATABASE_URL",
    default_port=ORDER_SERVICE_PORT,
)
PAYMENT_SERVICE = ServiceInfo(
    name="payment-service",
    module="payment_service",
    database_env="PAYMENT_DATABASE_URL",
    default_port=PAYMENT_SERVICE_PORT,
)
SERVICES: tuple[ServiceInfo, ...] = (ORDER_SERVICE, PAYMENT_SERVICE)
SERVICES_BY_NAME: Mapping[str, ServiceInfo] = {s.name: s for s in SERVICES}


def settings_class(service: ServiceInfo) -> type[CommonSettings]:
    """The service's `Settings` class (imported here, not at start-up: see the module docstring)."""
    if service is ORDER_SERVICE:
        from order_service.settings import Settings as OrderSettings

        return OrderSettings
    from payment_service.settings import Settings as PaymentSettings

    return PaymentSettings


def normalise_database_url(service: ServiceInfo, url: str) -> str:
    """`url` as the service will use it (postgresql:// gets the asyncpg driver).

    The service's whole Settings are validated on the way, from the same environment the
    service will see: a variable it would refuse stops `orderflow` before anything starts.
    """
    try:
        settings = settings_class(service).model_validate({"database_url": url})
    except ValidationError as exc:
        # The servicekit line never shows values; naming the (redacted) URL tells which one failed.
        problems = settings_error(exc).replace("DATABASE_URL:", f"DATABASE_URL {redact_url(url)}:")
        raise CliError(f"{service.name}: invalid settings: {problems}") from exc
    return settings.database_url


def redact_url(url: str) -> str:
    """`url` without its password, for messages; never fails, whatever the URL looks like."""
    try:
        return redact(url)
    except Exception:
        return "(an unparseable URL)"


def default_database_url(service: ServiceInfo) -> str:
    """The service's own default (a SQLite file under ./data/), read from its Settings class."""
    return str(settings_class(service).model_fields["database_url"].default)


def sqlite_url(data_dir: Path, service: ServiceInfo) -> str:
    """The SQLite database of `service` inside `data_dir` (absolute, so any cwd works)."""
    return f"sqlite+aiosqlite:///{(data_dir / f'{service.name}.db').resolve()}"


def upgrade(service: ServiceInfo, database_url: str) -> None:
    """Run the service's Alembic migrations to head (blocking: async code calls it in a thread)."""
    if service is ORDER_SERVICE:
        from order_service.migrate import upgrade as upgrade_orders

        upgrade_orders(database_url)
    else:
        from payment_service.migrate import upgrade as upgrade_payments

        upgrade_payments(database_url)
