"""`python -m <service>`: uvicorn around the app, a graceful stop on SIGTERM/SIGINT, exit codes.

Exit codes: 0 after a graceful stop; 1 when the service cannot start (bad configuration,
database or SQS unreachable, port taken), with one clear line on stderr and no traceback.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from orderflow_servicekit.logs import configure_logging
from orderflow_servicekit.settings import CommonSettings, settings_error
from orderflow_servicekit.telemetry.tracing import TracingOptions, setup_tracing

SettingsT = TypeVar("SettingsT", bound=CommonSettings)


def serve(
    service: str,
    settings_factory: Callable[[], SettingsT],
    app_factory: Callable[[SettingsT], FastAPI],
) -> int:
    """Run the service until SIGTERM/SIGINT; return the process exit code.

    Logging and tracing are set up here, once per process, from the settings.
    """
    try:
        settings = settings_factory()
    except ValidationError as exc:
        print(f"{service}: invalid configuration: {settings_error(exc)}", file=sys.stderr)
        return 1
    configure_logging(service, settings.log_level, settings.log_format)
    tracing = setup_tracing(
        TracingOptions(
            service_name=settings.otel_service_name or service,
            otlp_endpoint=settings.otel_exporter_otlp_endpoint,
        )
    )
    try:
        return _run(settings, app_factory)
    finally:
        # After the graceful stop: the spans of the drained handlers and the last relay go out.
        tracing.shutdown()


def _run(settings: SettingsT, app_factory: Callable[[SettingsT], FastAPI]) -> int:
    config = uvicorn.Config(
        app_factory(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    # uvicorn stops gracefully on SIGTERM/SIGINT (the lifespan drains the runtime), then raises
    # the signal again for its default action. These no-op handlers take that second delivery,
    # so a graceful stop ends with exit code 0 instead of death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        server.run()
    except SystemExit as exc:
        # uvicorn exits with 3 when start-up failed; the reason is already logged in one line.
        return 0 if exc.code in (0, None) else 1
    return 0 if server.started else 1
