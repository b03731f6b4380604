"""Whether a failure means a dependency is unavailable, rather than that the work itself failed.

One classification serves every layer: the HTTP handlers answer such failures with 503 and
`Retry-After`, the consumer's circuit breaker pauses receiving on them, and the one-statement
database paths drop their pooled connections on them. (The outbox relay still uses the messaging
library's own `is_dependency_failure`; making the two one, and seeing through SQLAlchemy's
wrapping of every driver error, is the reliability issue's job: this module is its seam.)
"""

from __future__ import annotations

import errno
import socket
from typing import Final

import asyncpg
from sqlalchemy import exc as sa_exc

_NETWORK_ERRNOS: Final = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EADDRNOTAVAIL,
    }
)


def dependency_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached right now (not that the request failed).

    SQLAlchemy's `DBAPIError` with `connection_invalidated`, `OperationalError` and
    `InterfaceError`, its pool `TimeoutError`; asyncpg's connection errors (lost, refused,
    "cannot connect now", too many connections); and network `OSError`s (connection refused or
    reset, timeouts, unreachable hosts). The HTTP handlers answer these with 503; the consumer's
    circuit breaker pauses receiving on them.
    """
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
        )
    if isinstance(
        exc,
        (
            sa_exc.TimeoutError,
            asyncpg.PostgresConnectionError,
            asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError,
            ConnectionError,
            TimeoutError,
            socket.gaierror,
        ),
    ):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # asyncpg's "connection is closed"; not its misuse errors ("another operation is in
        # progress"), which are bugs.
        return "closed" in str(exc)
    if isinstance(exc, OSError):
        # asyncio's "Multiple exceptions: ..." when every address of the host refused: no errno.
        return exc.errno in _NETWORK_ERRNOS or (type(exc) is OSError and exc.errno is None)
    return False
