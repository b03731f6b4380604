"""Errors raised by orderflow_messaging.

    MessagingError
    ├── QueueNotFoundError     a queue the topology names does not exist on the engine
    │                          (also raised by `Consumer.run()` at start for a missing queue)
    ├── PublishError           SQS refused or could not be reached for some messages
    └── PoisonMessage          raised by a handler or a `decoded` decoder: this message can
                               never succeed; it goes to the DLQ at once

Retry is a signal, not a failure: any other exception a handler raises leaves its message for
redelivery after a backoff.
"""

from __future__ import annotations


class MessagingError(Exception):
    """Base class of every error this library raises."""


class QueueNotFoundError(MessagingError):
    """A queue that should exist does not (run `orderflow queues init`)."""


class PublishError(MessagingError):
    """Some messages could not be sent; `failures` maps message id to the reason."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__(f"{len(failures)} message(s) not sent: {next(iter(failures.values()))}")
        self.failures = failures


class PoisonMessage(MessagingError):
    """Raised by a handler for a message that no retry can fix; it goes to the DLQ at once."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
