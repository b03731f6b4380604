"""Swagger UI's "Authorize" button with AUTH_MODE=jwt: a pasted token reaches the API.

order-service runs as `python -m order_service` on a free port (jwt mode, a local HS256 secret,
the session's moto server, SQLite); Debian's chromium drives Swagger UI through Playwright.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from orderflow_cli.token import TokenRequest, mint_token
from orderflow_testkit.processes import ManagedProcess
from orderflow_testkit.waiting import free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
SECRET = "browser-test-secret-0123456789-abcdefghij"
T = TypeVar("T")


def run_aside(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own: Playwright's sync API owns this thread's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def secured_api(tmp_path: Path, moto_endpoint: str, queue_prefix: str) -> Iterator[str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "AUTH_"))},
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}",
        "SQS_ENDPOINT": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "ORDERS_QUEUE": f"{queue_prefix}orders",
        "PAYMENT_RESULTS_QUEUE": f"{queue_prefix}payment-results",
        "AUTH_MODE": "jwt",
        "JWT_SECRET": SECRET,
    }
    service = ManagedProcess(
        "order-service",
        [sys.executable, "-m", "order_service"],
        port=port,
        env=env,
        log_path=tmp_path / "order-service.log",
        cwd=tmp_path / "cwd",
    )
    run_aside(service.start_ready())
    try:
        yield service.url
    finally:
        problem = run_aside(service.stop())
        assert problem is None, problem


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


def list_orders(page: Page) -> str:
    operation = (
        page.locator(".opblock.opblock-get")
        .filter(has=page.locator(".opblock-summary-path", has_text="/orders"))
        .filter(has_not=page.locator(".opblock-summary-path", has_text="{order_id}"))
    )
    if not operation.get_by_role("button", name="Execute").is_visible():
        if not operation.get_by_role("button", name="Try it out").is_visible():
            operation.locator(".opblock-summary").first.click()
        operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    response = operation.locator(".live-responses-table .response").first
    status = response.locator(".response-col_status")
    expect(status).not_to_be_empty()
    return status.inner_text().strip()


def test_a_token_pasted_into_authorize_is_sent_and_accepted(page: Page, secured_api: str) -> None:
    token = mint_token(TokenRequest(user="browser-user"), secret=SECRET)
    page.goto(f"{secured_api}/docs")

    assert list_orders(page) == "401"

    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".auth-container").first
    dialog.locator("input").fill(token)
    dialog.locator("button.modal-btn.authorize").click()  # its label: "Apply credentials"
    expect(dialog).to_contain_text("Authorized")
    dialog.locator("button.btn-done").click()

    assert list_orders(page) == "200"
    curl = page.locator(".curl-command").first.inner_text()
    assert "Authorization: Bearer" in curl
