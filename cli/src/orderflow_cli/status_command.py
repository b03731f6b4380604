"""The `orderflow status` command: a live view, or one snapshot (`--once`), as text or JSON."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.live import Live

from orderflow_cli.errors import CliError
from orderflow_cli.status import (
    DEFAULT_URLS,
    URL_VARIABLES,
    Snapshot,
    http_client,
    take_snapshot,
)
from orderflow_cli.status_view import render


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusOptions:
    """once: one snapshot, then exit. json: JSON (one object per line) instead of the view.
    interval_s: seconds between refreshes of the live view (default 2)."""

    once: bool = False
    json: bool = False
    interval_s: float = 2.0


def service_urls(environ: Mapping[str, str]) -> dict[str, str]:
    """Where the services are: ORDER_SERVICE_URL / PAYMENT_SERVICE_URL, else localhost."""
    urls: dict[str, str] = {}
    for name, default in DEFAULT_URLS.items():
        variable = URL_VARIABLES[name]
        url = environ.get(variable) or default
        if not url.startswith(("http://", "https://")):
            raise CliError(f"{variable} must be an http:// or https:// URL, not {url!r}")
        urls[name] = url
    return urls


def _print(console: Console, snapshot: Snapshot, options: StatusOptions) -> None:
    if options.json:
        # Plain print, not rich: scripts get exactly one JSON object per line.
        print(json.dumps(snapshot.as_json()), flush=True)
    else:
        console.print(render(snapshot))


async def _run(options: StatusOptions, urls: Mapping[str, str], console: Console) -> None:
    async with http_client() as client:
        snapshot = await take_snapshot(client, urls)
        if options.once or options.json:
            _print(console, snapshot, options)
            while not options.once:
                await asyncio.sleep(options.interval_s)
                snapshot = await take_snapshot(client, urls, snapshot)
                _print(console, snapshot, options)
            return
        await _live(client, urls, snapshot, options.interval_s, console)


async def _live(
    client: httpx.AsyncClient,
    urls: Mapping[str, str],
    snapshot: Snapshot,
    interval_s: float,
    console: Console,
) -> None:
    with Live(render(snapshot, interval_s=interval_s), console=console, auto_refresh=False) as live:
        while True:
            # The refresh clock of the view, not a wait for a condition.
            await asyncio.sleep(interval_s)
            snapshot = await take_snapshot(client, urls, snapshot)
            live.update(render(snapshot, interval_s=interval_s), refresh=True)


def run_status(
    options: StatusOptions,
    environ: Mapping[str, str] | None = None,
    console: Console | None = None,
) -> int:
    """Show the status until Ctrl-C (or once); a service that does not answer is shown down."""
    urls = service_urls(os.environ if environ is None else environ)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a live view ends
        asyncio.run(_run(options, urls, console or Console()))
    return 0
