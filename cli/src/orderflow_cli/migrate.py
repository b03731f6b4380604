"""`orderflow migrate`: bring the services' databases to the newest Alembic revision."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from orderflow_cli.errors import CliError
from orderflow_cli.services import (
    SERVICES,
    SERVICES_BY_NAME,
    ServiceInfo,
    default_database_url,
    normalise_database_url,
    redact_url,
    upgrade,
)


@dataclass(frozen=True, slots=True)
class MigrationTarget:
    service: ServiceInfo
    database_url: str


def select_services(choice: str) -> tuple[ServiceInfo, ...]:
    """`all` or one service's name (argparse has already checked it is one of them)."""
    return SERVICES if choice == "all" else (SERVICES_BY_NAME[choice],)


def resolve_targets(
    services: Sequence[ServiceInfo], environ: Mapping[str, str]
) -> list[MigrationTarget]:
    """Which database each service migrates.

    ORDER_DATABASE_URL / PAYMENT_DATABASE_URL first; then DATABASE_URL, but only when a single
    service is selected (both services have an `outbox` table: they cannot share one database);
    then the service's own default, a SQLite file under ./data/.
    """
    shared = environ.get("DATABASE_URL") or None
    targets = []
    for service in services:
        url = environ.get(service.database_env) or None
        if url is None and len(services) == 1:
            url = shared
        if url is None:
            url = default_database_url(service)
        targets.append(MigrationTarget(service, normalise_database_url(service, url)))
    return targets


def _print(line: str) -> None:
    print(line, flush=True)


def migrate(targets: Sequence[MigrationTarget], report: Callable[[str], None] = _print) -> None:
    """Upgrade each target in turn, `report`ing each; the first failure raises `CliError`."""
    for target in targets:
        shown = redact_url(target.database_url)
        try:
            upgrade(target.service, target.database_url)
        except Exception as exc:
            # Alembic, SQLAlchemy and the drivers raise many types; the user needs the message.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CliError(f"{target.service.name}: migrating {shown} failed: {reason}") from exc
        report(f"{target.service.name}: {shown} is at the newest revision")


def run_migrate(choice: str, environ: Mapping[str, str] | None = None) -> int:
    """The command."""
    env = os.environ if environ is None else environ
    services = select_services(choice)
    if len(services) > 1 and env.get("DATABASE_URL"):
        missing = [s.database_env for s in services if not env.get(s.database_env)]
        if missing:
            print(
                "orderflow: DATABASE_URL is ignored when migrating both services (they cannot "
                f"share a database); set {' and '.join(missing)} to choose theirs",
                file=sys.stderr,
                flush=True,
            )
    migrate(resolve_targets(services, env))
    return 0
