"""The consumer's circuit breaker: stop receiving while a dependency (a database) is down.

Retrying message after message while the database is down only burns receive counts: after
`maxReceiveCount` receives SQS moves a perfectly valid message to the DLQ. So when a handler
fails with a dependency failure, its message is given back with a short visibility and the
circuit opens: the poller stops receiving (handlers already running finish and settle), and the
dependency is probed with backoff until it answers; then the circuit closes and receiving
resumes. An outage then costs each message one or two receives, however long it lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Final

from orderflow_messaging._backoff import BackoffPolicy, ExponentialBackoff
from orderflow_messaging._exceptions import one_line

logger = logging.getLogger("orderflow.consumer")

DependencyProbe = Callable[[], Awaitable[None]]
"""Returns when the dependency answers; raises while it is down."""

DependencyFailure = Callable[[BaseException], bool]
"""Whether a handler's exception means a dependency is down (rather than this message failing)."""

PROBE_TIMEOUT_S: Final = 5.0
"""A probe that hangs (a frozen database) counts as failed after this long."""


def default_probe_backoff() -> BackoffPolicy:
    return ExponentialBackoff(base_s=0.5, cap_s=5.0, jitter=False)


def is_dependency_failure(exc: BaseException) -> bool:
    """The default predicate: network errors, and SQLAlchemy's lost or refused connections.

    OSError (ConnectionError, TimeoutError and the rest), and SQLAlchemy's `DBAPIError` with
    `connection_invalidated`, `OperationalError`, `InterfaceError` or its pool `TimeoutError`.
    SQLAlchemy is looked up, never imported: if it is not loaded, no exception can be one of its.
    """
    if isinstance(exc, OSError):
        return True
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None:
        return False
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
        )
    return isinstance(exc, sa_exc.TimeoutError)


class CircuitBreaker:
    """Open while a dependency is down: the poller waits in `wait_closed()` meanwhile.

    probe: raises while the dependency is down. backoff: the wait before each probe, by attempt.
    stopping: set when the consumer stops; it ends the probing and any `wait_closed()`.
    """

    def __init__(
        self, probe: DependencyProbe, backoff: BackoffPolicy, stopping: asyncio.Event
    ) -> None:
        self._probe = probe
        self._backoff = backoff
        self._stopping = stopping
        self._closed = asyncio.Event()
        self._closed.set()
        self._probing: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return not self._closed.is_set()

    def trip(self, exc: BaseException) -> bool:
        """A handler met a dependency failure: open and probe until it answers; True if it opened.

        Already open, or stopping: nothing changes.
        """
        if self.is_open or self._stopping.is_set():
            return False
        self._closed.clear()
        logger.warning(
            "circuit open: a dependency is unavailable (%s); receiving paused until it answers",
            one_line(exc),
        )
        self._probing = asyncio.create_task(self._probe_until_it_answers(exc))
        return True

    async def wait_closed(self) -> None:
        """Until the circuit is closed, or the consumer stops."""
        if not self.is_open:
            return
        closed = asyncio.create_task(self._closed.wait())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            stopping.cancel()

    async def close(self) -> None:
        """Stop probing (at shutdown)."""
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing
            self._probing = None

    async def _probe_until_it_answers(self, cause: BaseException) -> None:
        loop = asyncio.get_running_loop()
        opened_at = loop.time()
        last: BaseException = cause
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._backoff.delay_s(attempt))
            if self._stopping.is_set():
                return
            try:
                await asyncio.wait_for(self._probe(), PROBE_TIMEOUT_S)
            except Exception as exc:
                last = exc
                logger.debug("dependency probe %d failed: %s", attempt, one_line(exc))
                continue
            logger.info(
                "circuit closed: the dependency answers again after %.1f s (%d probe(s); last "
                "error: %s); receiving resumed",
                loop.time() - opened_at,
                attempt,
                one_line(last),
            )
            self._closed.set()
            return
