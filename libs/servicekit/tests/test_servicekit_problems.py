"""install_problem_handlers: every error is application/problem+json, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from orderflow_servicekit.failures import dependency_unavailable
from orderflow_servicekit.problems import (
    PROBLEM_JSON,
    ProblemError,
    install_problem_handlers,
)

SECRET = "s3cr3t-value-that-must-not-be-echoed"


def _dbapi(cls: type[DBAPIError], *, invalidated: bool = False) -> DBAPIError:
    # As SQLAlchemy raises them: the SQL and a link on further lines, the driver's error inside.
    return cls(
        f"INSERT INTO orders VALUES ('{SECRET}')",
        {},
        Exception("connection was closed in the middle of operation"),
        connection_invalidated=invalidated,
    )


# What a request meets while the database is down, as the drivers and the pool raise it.
UNAVAILABLE: dict[str, BaseException] = {
    "refused": ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    "reset": ConnectionResetError(104, "Connection reset by peer"),
    "timeout": TimeoutError(),
    "every-address-refused": OSError("Multiple exceptions: [Errno 111] Connect call failed"),
    "invalidated": _dbapi(DBAPIError, invalidated=True),
    "operational": _dbapi(OperationalError),
    "interface": _dbapi(InterfaceError),
    "pool-timeout": PoolTimeoutError("QueuePool limit of size 20 overflow 20 reached"),
    "asyncpg-lost": asyncpg.ConnectionDoesNotExistError("connection was closed"),
    "asyncpg-starting": asyncpg.CannotConnectNowError("the database system is starting up"),
    "asyncpg-full": asyncpg.TooManyConnectionsError("too many clients already"),
    "asyncpg-closed": asyncpg.InterfaceError("connection is closed"),
}
# Errors of the same families that are not outages: bugs, answered 500 with their traceback.
NOT_UNAVAILABLE: dict[str, BaseException] = {
    "integrity": _dbapi(IntegrityError),
    "dbapi": _dbapi(DBAPIError),
    "file": FileNotFoundError(2, "No such file or directory"),
    "asyncpg-misuse": asyncpg.InterfaceError("another operation is in progress"),
}


class Item(BaseModel):
    name: str = Field(max_length=10)
    quantity: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.post("/items", status_code=201)
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"database password is {SECRET}")

    @app.get("/conflict")
    async def conflict() -> None:
        raise ProblemError(
            409, "The key was used with another body.", headers={"X-Why": "reuse"}, key="k1"
        )

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=418, detail={"structured": SECRET})

    @app.post("/database/{name}")
    async def database(name: str) -> None:
        raise (UNAVAILABLE | NOT_UNAVAILABLE)[name]

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # The transport raises whatever escapes the app, as uvicorn would log it with a traceback:
    # every error must be answered inside the app instead.
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert isinstance(body, dict)
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert "Traceback" not in response.text
    return body


async def test_an_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/nowhere"), 404)
    assert body["title"] == "Not Found"
    assert body["instance"] == "/nowhere"


async def test_a_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/items")
    body = problem(response, 405)
    assert body["title"] == "Method Not Allowed"
    assert "POST" in response.headers["allow"]


async def test_an_invalid_body_is_a_422_problem_listing_errors_without_echoing_input(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/items", json={"name": SECRET, "quantity": SECRET})
    body = problem(response, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {tuple(e["loc"]) for e in errors} == {("body", "name"), ("body", "quantity")}
    for error in errors:
        assert set(error) == {"loc", "msg", "type"}
    assert SECRET not in response.text


async def test_an_invalid_path_parameter_is_a_422_problem(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/items/abc"), 422)
    assert body["errors"]


async def test_malformed_json_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/items", content=b'{"name": "x", ', headers={"content-type": "application/json"}
    )
    body = problem(response, 400)
    assert body["title"] == "Malformed JSON"
    assert "errors" not in body


async def test_an_unexpected_exception_is_a_500_problem_without_details(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get("/boom")
    body = problem(response, 500)
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text
    assert body["title"] == "Internal Server Error"
    # ...but the log has it, for the operators.
    assert any(r.name == "orderflow.http" and r.exc_info for r in caplog.records)


async def test_problem_error_answers_with_its_status_headers_and_extensions(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/conflict")
    body = problem(response, 409)
    assert body["detail"] == "The key was used with another body."
    assert body["key"] == "k1"
    assert body["instance"] == "/conflict"
    assert response.headers["x-why"] == "reuse"


async def test_an_http_exception_with_a_structured_detail_does_not_leak_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/teapot")
    body = problem(response, 418)
    assert body["detail"] == "I'm a Teapot"
    assert SECRET not in response.text


async def test_success_responses_are_untouched(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "pen", "quantity": 2})
    assert response.status_code == 201
    assert response.json() == {"name": "pen", "quantity": 2}
    assert response.headers["content-type"] == "application/json"


def _http_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "orderflow.http"]


@pytest.mark.parametrize("name", list(UNAVAILABLE))
async def test_an_unreachable_database_is_a_503_with_retry_after_logged_on_one_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    response = await client.post(f"/database/{name}")
    body = problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert body["title"] == "Service Unavailable"
    assert body["instance"] == f"/database/{name}"
    assert SECRET not in response.text
    [record] = _http_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    line = record.getMessage()
    assert "\n" not in line
    assert line.startswith(f"POST /database/{name}: 503")
    assert type(UNAVAILABLE[name]).__name__ in line


@pytest.mark.parametrize("name", list(NOT_UNAVAILABLE))
async def test_a_database_error_that_is_no_outage_is_a_500_with_one_traceback(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    response = await client.post(f"/database/{name}")
    body = problem(response, 500)
    assert body["title"] == "Internal Server Error"
    assert SECRET not in response.text
    assert "retry-after" not in response.headers
    [record] = _http_records(caplog)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[1] is NOT_UNAVAILABLE[name]


async def test_an_unexpected_exception_is_logged_once_with_its_traceback_and_not_re_raised(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # The client's transport would raise had the app let the error out for the server to log.
    response = await client.get("/boom")
    problem(response, 500)
    [record] = _http_records(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


def test_dependency_unavailable_tells_outages_from_bugs() -> None:
    assert all(dependency_unavailable(exc) for exc in UNAVAILABLE.values())
    assert not any(dependency_unavailable(exc) for exc in NOT_UNAVAILABLE.values())
    assert not dependency_unavailable(RuntimeError("bug"))
