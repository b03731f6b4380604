"""Telemetry for both services: Prometheus metrics, OpenTelemetry traces, structured logs.

Services call `instrument_spec` on their runtime spec and `instrument_app` on their FastAPI app;
each concern plugs its middleware in here, so services never wire them one by one.
"""

from __future__ import annotations

import dataclasses

from fastapi import FastAPI

from orderflow_servicekit.runtime import RuntimeSpec
from orderflow_servicekit.telemetry import metrics, tracing


def instrument_spec(spec: RuntimeSpec) -> RuntimeSpec:
    """The spec with the telemetry middleware and background samplers added."""
    parts = (tracing.runtime_parts(spec), metrics.runtime_parts(spec))
    return dataclasses.replace(
        spec,
        # Tracing innermost on neither side matters less than this: metrics wrap outermost,
        # so their durations include the tracing overhead a user really pays.
        handler_middleware=(
            *spec.handler_middleware,
            *(mw for part in parts for mw in part.handler_middleware),
        ),
        publisher_middleware=(
            *spec.publisher_middleware,
            *(mw for part in parts for mw in part.publisher_middleware),
        ),
        background=(*spec.background, *(task for part in parts for task in part.background)),
    )


def instrument_app(app: FastAPI, service: str) -> None:
    """HTTP metrics and server spans for `app`."""
    tracing.instrument_app(app, service)
    metrics.instrument_app(app, service)
