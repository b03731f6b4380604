"""BodySizeLimit: 413 problem+json before a large body is read, by header or by counting."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from orderflow_servicekit.limits import BodySizeLimit
from orderflow_servicekit.problems import install_problem_handlers

LIMIT = 1024


class Note(BaseModel):
    text: str


class App:
    def __init__(self) -> None:
        self.handled = 0
        self.app = FastAPI()
        install_problem_handlers(self.app)
        self.app.add_middleware(BodySizeLimit, max_bytes=LIMIT)

        @self.app.post("/raw")
        async def raw(request: Request) -> dict[str, int]:
            body = await request.body()
            self.handled += 1
            return {"bytes": len(body)}

        @self.app.post("/notes")
        async def notes(note: Note) -> dict[str, int]:
            self.handled += 1
            return {"chars": len(note.text)}

        @self.app.get("/ping")
        async def ping() -> dict[str, str]:
            return {"status": "ok"}


@pytest.fixture
async def app() -> AsyncIterator[tuple[App, httpx.AsyncClient]]:
    subject = App()
    transport = httpx.ASGITransport(app=subject.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield subject, client


def chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    async def generate() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            piece = min(size, total - sent)
            sent += piece
            yield b"a" * piece

    return generate()


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    problem = json.loads(response.content)
    assert problem["status"] == 413
    assert problem["title"] == "Content Too Large"
    assert str(LIMIT) in problem["detail"]


@pytest.mark.parametrize("path", ["/raw", "/notes"])
async def test_a_content_length_over_the_limit_is_refused_with_413(
    app: tuple[App, httpx.AsyncClient], path: str
) -> None:
    subject, client = app
    response = await client.post(
        path, content=b"a" * (LIMIT + 1), headers={"content-type": "application/json"}
    )
    assert_too_large(response)
    assert subject.handled == 0


@pytest.mark.parametrize("path", ["/raw", "/notes"])
async def test_a_chunked_body_without_content_length_is_cut_off_at_the_limit(
    app: tuple[App, httpx.AsyncClient], path: str
) -> None:
    subject, client = app
    request = client.build_request(
        "POST", path, content=chunks(LIMIT * 4), headers={"content-type": "application/json"}
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = await client.send(request)
    assert_too_large(response)
    assert subject.handled == 0


async def test_small_bodies_pass_through_untouched(app: tuple[App, httpx.AsyncClient]) -> None:
    subject, client = app
    assert (await client.post("/raw", content=b"a" * LIMIT)).json() == {"bytes": LIMIT}
    response = await client.post("/notes", json={"text": "hello"})
    assert response.status_code == 200
    assert response.json() == {"chars": 5}
    chunked = await client.post("/raw", content=chunks(LIMIT, size=100))
    assert chunked.json() == {"bytes": LIMIT}
    assert (await client.get("/ping")).json() == {"status": "ok"}
    assert subject.handled == 3


async def test_an_error_the_app_answers_itself_is_not_replaced(
    app: tuple[App, httpx.AsyncClient],
) -> None:
    _, client = app
    headers = {"content-type": "application/json"}
    response = await client.post("/notes", content=b"{broken", headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
