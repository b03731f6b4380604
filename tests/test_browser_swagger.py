"""Swagger UI in a real browser: Debian's chromium, driven by Playwright, places an order."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

if TYPE_CHECKING:
    from tests.conftest import RunningSystem

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


def test_swagger_ui_places_an_order_with_try_it_out_and_shows_201(
    page: Page, orderflow_system: RunningSystem
) -> None:
    # Swagger UI must load its assets from the service itself: no CDN.
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(orderflow_system.order_url) or request.url.startswith("data:")
            else foreign.append(request.url)
        ),
    )
    page.goto(f"{orderflow_system.order_url}/docs")

    operation = page.locator(".opblock.opblock-post").filter(
        has=page.locator(".opblock-summary-path", has_text="/orders")
    )
    operation.locator(".opblock-summary").first.click()
    operation.get_by_role("button", name="Try it out").click()
    body = operation.locator("textarea.body-param__text")
    body.fill(json.dumps({"userId": "browser-user", "total": 42.00}))
    operation.get_by_role("button", name="Execute").click()

    response = operation.locator(".live-responses-table .response").first
    expect(response.locator(".response-col_status")).to_have_text("201")
    expect(response.locator(".response-col_description")).to_contain_text("browser-user")
    expect(response.locator(".response-col_description")).to_contain_text("pending")
    assert foreign == []
    rows = orderflow_system.query(
        "order-service", "SELECT total, status FROM orders WHERE user_id = 'browser-user'"
    )
    assert len(rows) == 1
