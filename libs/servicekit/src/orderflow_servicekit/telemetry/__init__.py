"""Telemetry for both services: Prometheus metrics, OpenTelemetry traces, structured logs.

Services pass `runtime_middleware()` to their runtime spec and call `instrument_app` on their
FastAPI app (built with `telemetry=tracing.http_telemetry()` for the server spans); each concern
plugs in here, so services never wire them one by one.
"""

from __future__ import annotations

from fastapi import FastAPI

from orderflow_servicekit.runtime import RuntimeMiddleware
from orderflow_servicekit.telemetry import metrics, tracing


def runtime_middleware() -> tuple[RuntimeMiddleware, ...]:
    """Consumer and producer spans, then metrics and the samplers, innermost first.

    Metrics wrap outermost, so their durations include the tracing overhead a user really pays.
    """
    return (tracing.MessagingTracing(), metrics.MessagingMetrics())


def instrument_app(app: FastAPI, service: str) -> None:
    """HTTP metrics for `app` (FastAPI starts the server spans itself)."""
    metrics.instrument_app(app, service)
