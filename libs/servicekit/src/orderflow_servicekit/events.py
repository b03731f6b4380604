"""Event handlers for consumers: decode in one place, business code sees only a typed event.

A body that can never be the expected event (contracts' `PoisonEventError`) becomes messaging's
`PoisonMessage`, so the consumer moves it to the DLQ at once with the reason, and the business
handler is never called with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from orderflow_contracts import PoisonEventError
from orderflow_messaging import MessageHandler, PoisonMessage, ReceivedMessage, decoded

T = TypeVar("T")


def event_handler(
    decode: Callable[[str], T], handle: Callable[[T, ReceivedMessage], Awaitable[None]]
) -> MessageHandler:
    """The consumer's handler for one kind of event: `decode` the body (a contracts decoder such
    as `decode_order_created`), then `handle(event, message)`; both services are built so."""

    def decode_message(message: ReceivedMessage) -> T:
        try:
            return decode(message.body)
        except PoisonEventError as exc:
            raise PoisonMessage(exc.reason.value, exc.detail) from exc

    return decoded(decode_message, handle)
