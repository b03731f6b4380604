"""Event decoding for consumers: a body that can never be the expected event is poison."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from orderflow_contracts import PoisonEventError
from orderflow_messaging import PoisonMessage, ReceivedMessage

T = TypeVar("T")


def event_decoder(decode: Callable[[str], T]) -> Callable[[ReceivedMessage], T]:
    """Wrap a contracts decoder so its classified failures send the message to the DLQ at once."""

    def decode_message(message: ReceivedMessage) -> T:
        try:
            return decode(message.body)
        except PoisonEventError as exc:
            raise PoisonMessage(exc.reason.value, exc.detail) from exc

    return decode_message
