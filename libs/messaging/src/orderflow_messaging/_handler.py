"""What a consumer calls per message, and the seam that keeps poison away from business code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from orderflow_messaging._message import ReceivedMessage

T = TypeVar("T")

MessageHandler = Callable[[ReceivedMessage], Awaitable[None]]
"""Handles one message; returning means success, raising means retry (or DLQ for PoisonMessage)."""


def decoded(
    decode: Callable[[ReceivedMessage], T],
    handle: Callable[[T, ReceivedMessage], Awaitable[None]],
) -> MessageHandler:
    """A handler that decodes first, so business code only ever sees a well-formed value.

    decode: turns a message into the value `handle` works on. It raises `PoisonMessage(reason,
        detail)` for a message no retry can fix (not JSON, not the expected envelope, an unknown
        type, data failing the schema): the consumer moves it to the DLQ at once, with the reason,
        and `handle` is never called. Any other exception is a transient failure, retried later
        like any handler's.
    handle: the business code, given the decoded value and the message (for its id, receive count
        or attributes). It may still raise `PoisonMessage` for a failure only it can see (an
        unknown order, say), or any other exception to retry later.

    Example::

        def decode(message: ReceivedMessage) -> OrderCreated:
            try:
                return OrderCreated.model_validate_json(message.body)
            except ValidationError as exc:
                raise PoisonMessage("schema_violation", str(exc)) from exc

        consumer = Consumer(client, queue_url, decoded(decode, charge_order))
    """

    async def handler(message: ReceivedMessage) -> None:
        value = decode(message)
        await handle(value, message)

    return handler
