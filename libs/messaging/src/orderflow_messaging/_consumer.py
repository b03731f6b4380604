"""The consumer runtime: the source that polls, and the life cycle that ties the parts together.

The parts, each in its own module: the poller here asks for as many messages as it has free
permits (back-pressure: never more in flight than `concurrency`); a `MessageProcessor` runs the
handler and settles each message (`_processor.py`); a `BatchAcknowledger` deletes handled ones in
batches (`_acknowledger.py`); a `VisibilityHeartbeat` keeps in-flight messages hidden while their
handlers run (`_heartbeat.py`); on a FIFO queue a `GroupDispatcher` keeps each message group in
order (`_fifo.py`); with a dependency probe, a `CircuitBreaker` pauses receiving while a
dependency such as the database is down (`_circuit.py`). `stop()` stops polling, lets in-flight
handlers finish within a grace period, makes the rest visible again at once and flushes pending
deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from orderflow_messaging._acknowledger import BatchAcknowledger
from orderflow_messaging._circuit import CircuitBreaker
from orderflow_messaging._consumer_options import ConsumerOptions, ConsumerStats
from orderflow_messaging._dead_letter import DeadLetterQueue
from orderflow_messaging._exceptions import SQS_ERRORS, QueueNotFoundError
from orderflow_messaging._fifo import GroupDispatcher
from orderflow_messaging._handler import MessageHandler
from orderflow_messaging._heartbeat import VisibilityHeartbeat, heartbeat_timing
from orderflow_messaging._message import ReceivedMessage
from orderflow_messaging._processor import MessageProcessor
from orderflow_messaging._queues import is_missing_queue
from orderflow_messaging._visibility import change_visibility

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

logger = logging.getLogger("orderflow.consumer")

# How long `run()` waits for the last deletes, or for settling a cancelled handler left running.
_CLOSE_TIMEOUT_S: Final = 30.0


def _to_received(raw: MessageTypeDef, queue_url: str) -> ReceivedMessage:
    attributes = {
        name: value["StringValue"]
        for name, value in raw.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    system = raw.get("Attributes", {})
    return ReceivedMessage(
        message_id=raw["MessageId"],
        receipt_handle=raw["ReceiptHandle"],
        body=raw.get("Body", ""),
        attributes=attributes,
        receive_count=int(system.get("ApproximateReceiveCount", "1")),
        queue_url=queue_url,
        group_id=system.get("MessageGroupId"),
    )


class Consumer:
    """Consumes one queue until `stop()`."""

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        handler: MessageHandler,
        options: ConsumerOptions | None = None,
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._options = options = options or ConsumerOptions()
        if options.visibility_timeout_s is not None:
            # Known now: a bad heartbeat option fails here rather than when `run()` starts.
            heartbeat_timing(
                options.visibility_timeout_s,
                options.heartbeat_interval_s,
                options.heartbeat_extension_s,
            )
        self.stats = ConsumerStats()
        self._acknowledger = BatchAcknowledger(client, queue_url, options.delete_flush_interval_s)
        self._heartbeat = VisibilityHeartbeat(client, queue_url, self.stats)
        dlq = options.dead_letter_queue_url
        # Set whenever a message is settled; the poller waits on it, or on `_stopping`, when full.
        self._capacity_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._circuit: CircuitBreaker | None = None
        if options.dependency_probe is not None:
            self._circuit = CircuitBreaker(
                options.dependency_probe, options.dependency_probe_backoff, self._stopping
            )
        self._processor = MessageProcessor(
            client=client,
            queue_url=queue_url,
            handler=handler,
            acknowledger=self._acknowledger,
            heartbeat=self._heartbeat,
            dead_letters=DeadLetterQueue(client, queue_url, dlq) if dlq else None,
            retry_backoff=options.retry_backoff,
            stats=self.stats,
            settled=self._settled,
            circuit=self._circuit,
            dependency_failure=options.is_dependency_failure,
        )
        self._groups: GroupDispatcher | None = None
        if options.fifo or queue_url.endswith(".fifo"):
            self._groups = GroupDispatcher(
                process=self._processor.process, release=self._release, spawn=self._spawn
            )
        # Free permits needed before the next receive when some messages are in flight.
        self._receive_threshold = max(1, min(options.batch_size, options.concurrency) // 2)
        # Received and not yet settled, by receipt handle: what the permits count.
        self._in_flight: dict[str, ReceivedMessage] = {}
        self._workers: set[asyncio.Task[None]] = set()

    @property
    def queue_url(self) -> str:
        return self._queue_url

    @property
    def fifo(self) -> bool:
        """Whether messages are handled in order per message group."""
        return self._groups is not None

    @property
    def circuit_open(self) -> bool:
        """Whether receiving is paused because a dependency is down (see `dependency_probe`)."""
        return self._circuit is not None and self._circuit.is_open

    def stop(self) -> None:
        """Stop polling; `run()` then drains in-flight work and returns."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()`; raises `QueueNotFoundError` if the queue does not exist."""
        visibility = await self._visibility_timeout()
        if visibility is None:
            return  # stopped before the queue answered
        options = self._options
        timing = heartbeat_timing(
            visibility, options.heartbeat_interval_s, options.heartbeat_extension_s
        )
        self._heartbeat.configure(timing)
        heartbeat = asyncio.create_task(self._heartbeat.run())
        acknowledger = asyncio.create_task(self._acknowledger.run())
        try:
            await self._poll()
        finally:
            await self._drain()
            if self._circuit is not None:
                await self._circuit.close()
            self._heartbeat.close()
            await self._acknowledger.close()
            # Let each loop finish a call it may have in flight (they exit once closed);
            # cancelling the delete loop mid-call would lose that batch's deletes and redeliver
            # messages already handled.
            for loop in (acknowledger, heartbeat):
                try:
                    await asyncio.wait_for(asyncio.shield(loop), _CLOSE_TIMEOUT_S)
                except TimeoutError:
                    loop.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop

    async def _visibility_timeout(self) -> int | None:
        """The receive's visibility: the option, else the queue's (None if stopped first)."""
        if self._options.visibility_timeout_s is not None:
            return self._options.visibility_timeout_s
        while not self._stopping.is_set():
            try:
                response = await self._client.get_queue_attributes(
                    QueueUrl=self._queue_url, AttributeNames=["VisibilityTimeout"]
                )
                return int(response["Attributes"]["VisibilityTimeout"])
            except ClientError as exc:
                if is_missing_queue(exc):
                    raise QueueNotFoundError(f"queue {self._queue_url} does not exist") from exc
                logger.warning("reading the attributes of %s failed: %s", self._queue_url, exc)
            except SQS_ERRORS as exc:
                logger.warning("reading the attributes of %s failed: %s", self._queue_url, exc)
            await self._pause()
        return None

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._options.error_pause_s)

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        # When the next receive may start: later than now only after one that came back short.
        next_receive_at = 0.0
        while not self._stopping.is_set():
            free = await self._wait_for_capacity()
            if free == 0:
                return
            if self._circuit is not None and self._circuit.is_open:
                # A dependency is down: receive nothing until the probe answers (or `stop()`).
                await self._circuit.wait_closed()
                continue
            if (delay := next_receive_at - loop.time()) > 0:
                # Messages arriving meanwhile come in one call; capacity only grows meanwhile.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                continue
            asked = min(self._options.batch_size, free)
            receive_started = loop.time()
            receive = asyncio.create_task(self._receive(asked))
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({receive, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not receive.done():
                # A long poll cut short; anything it had taken reappears after its visibility.
                receive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receive
                return
            # The visibility clock started during the call; counting from its end is close
            # enough, as the heartbeat extends well before the timeout runs out.
            received_at = loop.time()
            messages = receive.result()
            if len(messages) < asked:
                next_receive_at = receive_started + self._options.min_receive_interval_s
            for message in messages:
                self._in_flight[message.receipt_handle] = message
                self._heartbeat.watch(message, received_at)
            if self._groups is not None:
                self._groups.dispatch(messages)
            else:
                for message in messages:
                    self._spawn(self._process(message))

    def _may_receive(self) -> bool:
        # Receiving as soon as one permit is free would, under load, take one message per
        # ReceiveMessage call: the call costs the same CPU for one message as for ten. Waiting
        # until half a batch of permits is free (or nothing is in flight) keeps batches full
        # and costs no latency when the consumer keeps up.
        in_flight = len(self._in_flight)
        return in_flight == 0 or self._options.concurrency - in_flight >= self._receive_threshold

    async def _wait_for_capacity(self) -> int:
        # `stop()` must end this wait too: with every permit taken by a slow handler, waiting for
        # a free permit alone would keep `run()` from ever reaching its bounded drain.
        while not self._stopping.is_set() and not self._may_receive():
            self._capacity_freed.clear()
            freed = asyncio.create_task(self._capacity_freed.wait())
            stopping = asyncio.create_task(self._stopping.wait())
            try:
                await asyncio.wait({freed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                freed.cancel()
                stopping.cancel()
        if self._stopping.is_set():
            return 0
        return self._options.concurrency - len(self._in_flight)

    async def _receive(self, count: int) -> list[ReceivedMessage]:
        kwargs: dict[str, object] = {}
        if self._options.visibility_timeout_s is not None:
            kwargs["VisibilityTimeout"] = self._options.visibility_timeout_s
        try:
            response = await self._client.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=self._options.wait_time_s,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=[
                    "ApproximateReceiveCount",
                    "SentTimestamp",
                    "MessageGroupId",
                ],
                **kwargs,  # type: ignore[arg-type]
            )
        except SQS_ERRORS as exc:
            logger.warning("receive from %s failed: %s", self._queue_url, exc)
            await self._pause()
            return []
        messages = [_to_received(raw, self._queue_url) for raw in response.get("Messages", [])]
        self.stats.received += len(messages)
        return messages

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._workers.add(task)
        task.add_done_callback(self._worker_done)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        self._workers.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("consumer worker crashed: %s", exc, exc_info=exc)

    async def _process(self, message: ReceivedMessage) -> None:
        await self._processor.process(message)

    def _settled(self, message: ReceivedMessage) -> None:
        if self._in_flight.pop(message.receipt_handle, None) is not None:
            self._capacity_freed.set()

    async def _release(self, messages: Sequence[ReceivedMessage]) -> None:
        """Give messages back unhandled: visible again at once, for this or another consumer."""
        if not messages:
            return
        await asyncio.gather(*(self._heartbeat.release(m) for m in messages))
        await change_visibility(self._client, self._queue_url, messages, 0)
        self.stats.released += len(messages)
        for message in messages:
            self._settled(message)

    async def _drain(self) -> None:
        if self._workers:
            grace = self._options.shutdown_grace_s
            _, pending = await asyncio.wait(set(self._workers), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        # A handler cancelled while its outcome was being settled: let that finish first, so a
        # retry's backoff is set before the rest of its FIFO group becomes visible.
        await self._processor.wait_settled(_CLOSE_TIMEOUT_S)
        # What is left never finished (or never started, behind its FIFO group): back at once
        # instead of waiting out the visibility timeout.
        await self._release(list(self._in_flight.values()))
