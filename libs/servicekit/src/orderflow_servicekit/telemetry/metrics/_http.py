"""HTTP metrics: a pure ASGI middleware, labelled by route template, never by raw path."""

from __future__ import annotations

import time
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderflow_servicekit.telemetry.metrics._instruments import HTTP_DURATION, HTTP_REQUESTS

UNMATCHED: Final = "unmatched"
"""The route label of a request no route matched (a 404): raw paths would be unbounded."""

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request (`/orders/{order_id}`).

    Starlette's router records the matched route in the scope it was given, which is the same
    dict this middleware passed on, so it can be read once the app has answered.
    """
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetrics:
    """Counts requests and times them, by method, route template and status code.

    A request that raised before a response started is counted as a 500, as the server answers.
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self._app = app
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            method = scope.get("method", "")
            method = method if method in _METHODS else "other"
            route = route_template(scope)
            HTTP_REQUESTS.labels(self._service, method, route, str(status)).inc()
            HTTP_DURATION.labels(self._service, method, route).observe(
                time.perf_counter() - started
            )
