"""What one telemetry concern adds to a service's runtime."""

from __future__ import annotations

from dataclasses import dataclass

from orderflow_servicekit.runtime import BackgroundTask, HandlerMiddleware, PublisherMiddleware


@dataclass(frozen=True, slots=True)
class RuntimeParts:
    handler_middleware: tuple[HandlerMiddleware, ...] = ()
    publisher_middleware: tuple[PublisherMiddleware, ...] = ()
    background: tuple[BackgroundTask, ...] = ()
