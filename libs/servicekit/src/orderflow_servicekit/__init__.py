"""orderflow_servicekit: what both services share, so each service is only its business.

- Settings: `SqsSettings` (what the services and the CLI share), `CommonSettings` (each
  service's `Settings` subclasses it), `BlankIsUnset`, and `settings_error` (a settings
  failure on one line, named by its variables).
- The runtime: `RuntimeSpec` (what differs between services: tables, migrations, handler,
  `middleware`) and `ServiceRuntime` (the live engine, SQS client, queues, relay, inbox and
  consumer), started by `runtime_lifespan` inside the FastAPI app and by nothing else;
  `RuntimeMiddleware` for a concern that wraps the handler or the publisher; `spawn_logged`.
- The app: `prepare_service_app`, `runtime_health_router` (`/health/live`, `/health/ready`),
  `install_problem_handlers` and `ProblemError` (RFC 9457 answers, never a traceback),
  `BodySizeLimit`, and `serve` (`python -m <service>`: exit codes and a graceful stop).
- The database: `create_engine`, `driver_connection` (a pooled connection's driver, for
  one-statement hot paths), `redact`, `Amount`, `run_env` / `upgrade_async` (Alembic).
- Failures: `dependency_unavailable`, whether an error means a dependency is down (503, the
  consumer's circuit breaker) rather than that the work failed.
- Histogram buckets for a service's own metrics: `FAST_BUCKETS`, `SLOW_BUCKETS`.
- Telemetry: `runtime_middleware()` (consumer and producer spans, messaging metrics, samplers),
  `instrument_app` (HTTP metrics), `http_telemetry` (server spans), `traced` (a span of your
  own), `configure_logging` and `bind_log_context` (structured logs).
- `orderflow_queues`: the system's queue topology with its names and limits.

Subpackages (`telemetry.metrics`, `telemetry.tracing`) hold the parts behind these names, for
the tests that take them apart.
"""

from orderflow_servicekit.app import prepare_service_app, runtime_health_router, runtime_lifespan
from orderflow_servicekit.db import create_engine, driver_connection, redact
from orderflow_servicekit.events import event_handler
from orderflow_servicekit.failures import dependency_unavailable
from orderflow_servicekit.limits import BodySizeLimit
from orderflow_servicekit.logs import bind_log_context, configure_logging
from orderflow_servicekit.migrations import run_env, upgrade_async
from orderflow_servicekit.problems import ProblemError, install_problem_handlers
from orderflow_servicekit.runtime import (
    RuntimeMiddleware,
    RuntimeSpec,
    ServiceRuntime,
    StartupError,
    spawn_logged,
)
from orderflow_servicekit.server import serve
from orderflow_servicekit.settings import (
    BlankIsUnset,
    CommonSettings,
    SqsSettings,
    settings_error,
)
from orderflow_servicekit.sqltypes import Amount
from orderflow_servicekit.telemetry import instrument_app, runtime_middleware
from orderflow_servicekit.telemetry.metrics import FAST_BUCKETS, SLOW_BUCKETS
from orderflow_servicekit.telemetry.tracing import http_telemetry, traced
from orderflow_servicekit.topology import orderflow_queues

__all__ = [
    "FAST_BUCKETS",
    "SLOW_BUCKETS",
    "Amount",
    "BlankIsUnset",
    "BodySizeLimit",
    "CommonSettings",
    "ProblemError",
    "RuntimeMiddleware",
    "RuntimeSpec",
    "ServiceRuntime",
    "SqsSettings",
    "StartupError",
    "bind_log_context",
    "configure_logging",
    "create_engine",
    "dependency_unavailable",
    "driver_connection",
    "event_handler",
    "http_telemetry",
    "install_problem_handlers",
    "instrument_app",
    "orderflow_queues",
    "prepare_service_app",
    "redact",
    "run_env",
    "runtime_health_router",
    "runtime_lifespan",
    "runtime_middleware",
    "serve",
    "settings_error",
    "spawn_logged",
    "traced",
    "upgrade_async",
]
