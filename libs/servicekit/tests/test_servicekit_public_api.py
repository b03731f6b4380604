"""The front door services build on: removing or renaming one of these names breaks them."""

from __future__ import annotations

import orderflow_servicekit

EXPECTED = {
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
}


def test_the_front_door_exports_exactly_the_public_names() -> None:
    assert set(orderflow_servicekit.__all__) == EXPECTED
    assert len(orderflow_servicekit.__all__) == len(EXPECTED), "a name is listed twice"
    for name in orderflow_servicekit.__all__:
        assert getattr(orderflow_servicekit, name) is not None


def test_the_telemetry_middleware_plugs_into_the_runtime() -> None:
    middleware = orderflow_servicekit.runtime_middleware()
    assert middleware, "services would run without metrics or traces"
    assert all(isinstance(m, orderflow_servicekit.RuntimeMiddleware) for m in middleware)
