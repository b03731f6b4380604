"""Is a port free, does an HTTP endpoint answer: the checks `orderflow up` waits on."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import Awaitable, Callable


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `host:port` now (bound the way uvicorn and moto bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


async def http_status(url_host: str, port: int, path: str, *, timeout_s: float = 2.0) -> int | None:
    """The status code of `GET path`, or None when nothing answers (HTTP/1.1, no keep-alive)."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(url_host, port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {url_host}:{port}\r\n"
                "Connection: close\r\nAccept: */*\r\n\r\n".encode("ascii")
            )
            await writer.drain()
            status_line = await reader.readline()
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    parts = status_line.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1])


async def wait_until(
    probe: Callable[[], Awaitable[bool]], *, timeout_s: float, interval_s: float = 0.1
) -> bool:
    """Call `probe` until it returns True (→ True) or `timeout_s` passes (→ False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await probe():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval_s)
