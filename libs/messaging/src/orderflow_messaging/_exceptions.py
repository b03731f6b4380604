"""Errors raised by orderflow_messaging, and the words used for any failure.

    MessagingError
    ├── QueueNotFoundError     a queue the topology names does not exist on the engine
    │                          (also raised by `Consumer.run()` at start for a missing queue)
    └── PoisonMessage          raised by a handler or a `decoded` decoder: this message can
                               never succeed; it goes to the DLQ at once

Retry is a signal, not a failure: any other exception a handler raises leaves its message for
redelivery after a backoff.

`SQS_ERRORS` is what a call to SQS may raise when the engine refuses it or cannot be reached;
`one_line` is how every orderflow log line and message names a failure.
"""

from __future__ import annotations

from typing import Final

from botocore.exceptions import BotoCoreError, ClientError

SQS_ERRORS: Final = (TimeoutError, BotoCoreError, ClientError, OSError)
"""What a call to SQS may raise when the engine refuses it or cannot be reached."""

_ONE_LINE_MAX: Final = 300


def one_line(exc: BaseException) -> str:
    """`Type: first line of the message`, cut at 300 characters.

    Drivers' messages run on with SQL, parameters and links; a log line stays one line.
    """
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:_ONE_LINE_MAX]}" if lines else type(exc).__name__


class MessagingError(Exception):
    """Base class of every error this library raises."""


class QueueNotFoundError(MessagingError):
    """A queue that should exist does not (run `orderflow queues init`)."""


class PoisonMessage(MessagingError):
    """Raised by a handler for a message that no retry can fix; it goes to the DLQ at once."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
