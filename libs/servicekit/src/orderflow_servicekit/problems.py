"""RFC 9457 problem details for every error response; never a stack trace.

What gets logged: a database (or another dependency) that cannot be reached answers 503 with
`Retry-After: 1` and one log line per request, no traceback (an outage fails every request the
same way); an unexpected error answers 500 and logs its traceback once. Starlette's catch-all
`Exception` handler re-raises after answering, for the server to log a second traceback, so
neither goes through it: the connection errors have handlers of their own, and unexpected errors
are answered by a small middleware around the routes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final, TypeVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderflow_messaging import one_line
from orderflow_servicekit.failures import dependency_unavailable

logger = logging.getLogger("orderflow.http")

PROBLEM_JSON = "application/problem+json"

RETRY_AFTER_S: Final = 1
"""What a 503 for an unreachable database tells the client to wait before trying again."""

# Raised by the driver or the pool when the database cannot be reached; each gets the handler
# below, which answers 503 for a connection failure and 500 (one traceback) for anything else.
_DEPENDENCY_ERRORS: Final[tuple[type[Exception], ...]] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    OSError,
)


class ProblemError(Exception):
    """Raise in a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # Echoing the rejected input back could reflect megabytes or secrets: keep location and message.
    return [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in errors
    ]


_E = TypeVar("_E", bound=Exception)


def _expect(exc: Exception, kind: type[_E]) -> _E:
    """Narrow the type: Starlette calls each handler only with the type it was registered for."""
    if not isinstance(exc, kind):
        raise exc
    return exc


async def _on_problem(request: Request, raised: Exception) -> JSONResponse:
    exc = _expect(raised, ProblemError)
    return problem_response(
        exc.status,
        exc.detail,
        title=exc.title,
        type_=exc.type,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


async def _on_http_error(request: Request, raised: Exception) -> JSONResponse:
    exc = _expect(raised, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(exc.status_code, detail, instance=request.url.path, headers=exc.headers)


async def _on_validation_error(request: Request, raised: Exception) -> JSONResponse:
    exc = _expect(raised, RequestValidationError)
    errors = _validation_errors(exc.errors())
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            400,
            "The request body is not valid JSON.",
            title="Malformed JSON",
            instance=request.url.path,
        )
    return problem_response(
        422,
        "The request does not match the schema.",
        title="Validation failed",
        instance=request.url.path,
        errors=errors,
    )


def _unexpected_response(path: str) -> JSONResponse:
    return problem_response(500, "An unexpected error occurred; it has been logged.", instance=path)


async def _on_dependency_error(request: Request, exc: Exception) -> JSONResponse:
    # A handler of its own (not the catch-all): Starlette does not re-raise what it handled.
    if not dependency_unavailable(exc):
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _unexpected_response(request.url.path)
    logger.warning(
        "%s %s: 503, a dependency is unavailable: %s",
        request.method,
        request.url.path,
        one_line(exc),
    )
    return problem_response(
        503,
        "The database (or another dependency) does not answer; try again shortly.",
        title="Service Unavailable",
        instance=request.url.path,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Only errors raised outside the routes get here (in a middleware outside `UnexpectedErrors`);
    # Starlette re-raises them after this answer and the server logs the traceback.
    logger.error("unhandled error on %s %s: %s", request.method, request.url.path, one_line(exc))
    return _unexpected_response(request.url.path)


class UnexpectedErrors:
    """Answer an error no handler took with a 500 problem, logging its traceback once.

    Starlette's own catch-all re-raises after answering, so that the server logs the error a
    second time; this middleware sits inside it and does not.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise  # too late for a problem document: let the server end the response
            path = scope.get("path", "")
            logger.error("unhandled error on %s %s", scope.get("method"), path, exc_info=exc)
            await _unexpected_response(path)(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every 4xx/5xx of `app` with application/problem+json.

    Call it before adding other middleware, so that `UnexpectedErrors` is the innermost.
    """
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    for error in _DEPENDENCY_ERRORS:
        app.add_exception_handler(error, _on_dependency_error)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_middleware(UnexpectedErrors)
