"""Running the handler on one message and settling the outcome: delete, retry or dead-letter.

Handler returns: the message is acknowledged (deleted in the next batch). Handler raises
`PoisonMessage`: a copy goes to the DLQ with the reason, then the original is deleted (without a
DLQ, or when the copy could not be sent, it is retried instead). Anything else: the message is
retried, hidden for a backoff that grows with its receive count, instead of waiting out the
whole visibility timeout; when the exception is a dependency failure and the consumer has a
circuit breaker, the message comes back after `DEPENDENCY_RETRY_S` instead and the circuit
opens (`_circuit.py`). The settling runs under `asyncio.shield`: a shutdown that cancels the
handler's task at that point must not lose an acknowledgement or a DLQ copy half sent.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from orderflow_messaging._acknowledger import BatchAcknowledger
from orderflow_messaging._backoff import BackoffPolicy
from orderflow_messaging._circuit import CircuitBreaker, DependencyFailure, is_dependency_failure
from orderflow_messaging._consumer_options import ConsumerStats
from orderflow_messaging._dead_letter import DeadLetterQueue
from orderflow_messaging._exceptions import PoisonMessage
from orderflow_messaging._handler import MessageHandler
from orderflow_messaging._heartbeat import VisibilityHeartbeat
from orderflow_messaging._message import ReceivedMessage
from orderflow_messaging._visibility import change_visibility

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

logger = logging.getLogger("orderflow.consumer")

DEPENDENCY_RETRY_S: Final = 1
"""Visibility of a message whose handler met a dependency failure while a circuit breaker is on.

Short: the circuit keeps this consumer from receiving it again while the dependency is down, and
once the probe answers the message should be there to take at once.
"""


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"


class MessageProcessor:
    """Handles one message at a time per call; `settled(message)` is told once it is done with."""

    def __init__(
        self,
        *,
        client: SQSClient,
        queue_url: str,
        handler: MessageHandler,
        acknowledger: BatchAcknowledger,
        heartbeat: VisibilityHeartbeat,
        dead_letters: DeadLetterQueue | None,
        retry_backoff: BackoffPolicy,
        stats: ConsumerStats,
        settled: Callable[[ReceivedMessage], None],
        circuit: CircuitBreaker | None = None,
        dependency_failure: DependencyFailure = is_dependency_failure,
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._handler = handler
        self._acknowledger = acknowledger
        self._heartbeat = heartbeat
        self._dead_letters = dead_letters
        self._retry_backoff = retry_backoff
        self._stats = stats
        self._settled = settled
        self._circuit = circuit
        self._dependency_failure = dependency_failure
        self._settling: set[asyncio.Task[Outcome]] = set()

    async def process(self, message: ReceivedMessage) -> Outcome:
        poison: PoisonMessage | None = None
        try:
            await self._handler(message)
        except PoisonMessage as exc:
            poison = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._is_dependency_failure(exc):
                logger.warning(
                    "handler failed for message %s (receive %d): %s",
                    message.message_id,
                    message.receive_count,
                    exc,
                    exc_info=not isinstance(exc, (OSError, TimeoutError)),
                )
                return await self._settle_shielded(message, Outcome.RETRIED, None)
            return await self._dependency_failed(message, exc)
        outcome = Outcome.SUCCEEDED if poison is None else Outcome.DEAD_LETTERED
        return await self._settle_shielded(message, outcome, poison)

    def _is_dependency_failure(self, exc: Exception) -> bool:
        try:
            return self._dependency_failure(exc)
        except Exception:
            logger.exception("is_dependency_failure raised; treating the failure as ordinary")
            return False

    async def _dependency_failed(self, message: ReceivedMessage, exc: Exception) -> Outcome:
        # One line, no traceback: an outage fails every message the same way.
        if self._circuit is None:
            logger.warning(
                "handler failed for message %s (receive %d): dependency unavailable: %s",
                message.message_id,
                message.receive_count,
                exc,
            )
            return await self._settle_shielded(message, Outcome.RETRIED, None)
        if self._circuit.trip(exc):
            self._stats.circuit_opened += 1
        logger.debug(
            "message %s (receive %d) given back: dependency unavailable: %s",
            message.message_id,
            message.receive_count,
            exc,
        )
        return await self._settle_shielded(
            message, Outcome.RETRIED, None, delay_s=DEPENDENCY_RETRY_S
        )

    async def wait_settled(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) for settling that a cancelled handler task left running."""
        if self._settling:
            await asyncio.wait(set(self._settling), timeout=timeout_s)

    async def _settle_shielded(
        self,
        message: ReceivedMessage,
        outcome: Outcome,
        poison: PoisonMessage | None,
        *,
        delay_s: int | None = None,
    ) -> Outcome:
        task = asyncio.create_task(self._settle(message, outcome, poison, delay_s))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        return await asyncio.shield(task)

    async def _settle(
        self,
        message: ReceivedMessage,
        outcome: Outcome,
        poison: PoisonMessage | None,
        delay_s: int | None = None,
    ) -> Outcome:
        try:
            await self._heartbeat.release(message)
            if poison is not None:
                if self._dead_letters is not None and await self._dead_letters.send(
                    message, poison.reason, poison.detail
                ):
                    self._stats.dead_lettered += 1
                    self._acknowledger.ack(message)
                    return Outcome.DEAD_LETTERED
                outcome = Outcome.RETRIED
            if outcome is Outcome.RETRIED:
                self._stats.retried += 1
                delay = delay_s
                if delay is None:
                    delay = round(self._retry_backoff.delay_s(message.receive_count))
                await change_visibility(self._client, self._queue_url, [message], delay)
                return Outcome.RETRIED
            self._stats.succeeded += 1
            self._acknowledger.ack(message)
            return Outcome.SUCCEEDED
        finally:
            self._settled(message)
