"""pytest fixtures for orderflow: a real SQS engine (moto server or fauxqs) and real databases.

Registered through the `pytest11` entry point, so every package's tests get them.
`ORDERFLOW_TEST_ENGINE=fauxqs` runs the session on fauxqs instead of moto (`make test-fauxqs`);
a test needing what an engine lacks is marked `needs_engine_feature("...")` and skips there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

import pytest

from orderflow_messaging import SqsClientOptions
from orderflow_testkit.databases import postgres_available, postgres_database
from orderflow_testkit.engines import (
    EngineUnavailable,
    engine_command,
    fauxqs_server,
    missing_feature,
    moto_server,
    selected_engine,
)

IN_CI = os.environ.get("CI", "").lower() == "true"
_FEATURE_MARKER = "needs_engine_feature"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_FEATURE_MARKER}(feature): needs an SQS engine feature; skips, with the reason, on "
        "an engine that lacks it (see orderflow_testkit.engines.MISSING_FEATURES)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    engine = selected_engine()
    for item in items:
        for marker in item.iter_markers(_FEATURE_MARKER):
            reason = missing_feature(engine, *marker.args)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def sqs_engine() -> str:
    """The session's SQS engine: "moto" (default) or "fauxqs" (`ORDERFLOW_TEST_ENGINE`)."""
    return selected_engine()


def _engine_unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI must run the suite on the engine it names: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _sqs_engine_installed(sqs_engine: str) -> bool:
    """fauxqs installed into the cache (first use); skips without npm, fails under CI=true."""
    try:
        engine_command(sqs_engine, 0)
    except EngineUnavailable as exc:
        _engine_unavailable(str(exc))
    return True


@pytest.fixture(scope="session")
def moto_endpoint(
    sqs_engine: str, _sqs_engine_installed: bool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The session's SQS engine on a free loopback port: its endpoint URL.

    The name is historical: it is moto unless `ORDERFLOW_TEST_ENGINE=fauxqs`, then fauxqs (one
    process for the session, stopped by its pid at the end). When fauxqs cannot be installed (no
    npm, no registry) the tests using it skip, or fail under CI=true.
    """
    if sqs_engine == "moto":
        with moto_server() as endpoint:
            yield endpoint
        return
    log_path = tmp_path_factory.mktemp("fauxqs") / "fauxqs.log"
    with contextlib.ExitStack() as stack:
        try:
            endpoint = stack.enter_context(fauxqs_server(log_path))
        except EngineUnavailable as exc:
            _engine_unavailable(str(exc))
        yield endpoint


@pytest.fixture
def sqs_options(moto_endpoint: str) -> SqsClientOptions:
    return SqsClientOptions(
        endpoint_url=moto_endpoint, access_key_id="test", secret_access_key="test"
    )


@pytest.fixture
def queue_prefix() -> str:
    """A unique prefix: every test gets queues of its own (a stray long poll cannot steal)."""
    return f"t{uuid.uuid4().hex[:10]}-"


def _require_postgres() -> None:
    # Fixtures may already run inside an event loop: ask from a thread with a loop of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        reason = pool.submit(asyncio.run, postgres_available()).result()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _postgres_checked() -> bool:
    _require_postgres()
    return True


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, on SQLite and on PostgreSQL (each test runs once per engine)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    request.getfixturevalue("_postgres_checked")
    async with postgres_database() as url:
        yield url
