"""The messaging runtime of a service: database, SQS client, queues, outbox relay and consumer.

Both services run the same life cycle; only their tables, migrations and handler differ.
Start-up: migrations, engine, SQS client, queues, relay, consumer. Shutdown runs it backwards and
gracefully: the consumer stops polling, drains in-flight messages and flushes its deletes; the
relay publishes what the drained handlers wrote; then the client and the engine close.
While the database is down the consumer receives nothing: its circuit breaker probes the
database (the readiness check) until it answers, so an outage sends no valid message to the DLQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from orderflow_messaging import (
    Consumer,
    ConsumerOptions,
    Inbox,
    MessageHandler,
    OutboxRelay,
    Publisher,
    QueueSpec,
    QueueUrls,
    RelayOptions,
    SqsPublisher,
    apply_topology,
    one_line,
    open_sqs_client,
    resolve_queue_urls,
)
from orderflow_servicekit.db import create_engine, redact
from orderflow_servicekit.failures import dependency_unavailable
from orderflow_servicekit.health import Check, database_check, sqs_check
from orderflow_servicekit.migrations import upgrade_async
from orderflow_servicekit.settings import CommonSettings

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

logger = logging.getLogger("orderflow.runtime")


class StartupError(Exception):
    """The service could not start; the message names the dependency and why, in one line."""


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.error("%s crashed: %s", task.get_name(), one_line(exc), exc_info=exc)


def spawn_logged(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """A background task whose crash is logged, not lost."""
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(_log_crash)
    return task


@dataclass(slots=True, kw_only=True)
class ServiceRuntime:
    """The live resources of a running service; handlers are built from it."""

    service: str
    engine: AsyncEngine
    client: SQSClient
    queue_urls: QueueUrls
    relay: OutboxRelay
    inbox: Inbox
    consumer: Consumer | None = None
    tasks: tuple[asyncio.Task[None], ...] = ()

    def checks(self) -> Mapping[str, Check]:
        """Readiness: the database and the consumed queue answer, and the loops are running."""
        queue_url = self.consumer.queue_url if self.consumer else ""
        return {
            "database": database_check(self.engine),
            "sqs": sqs_check(self.client, queue_url),
            "worker": self._tasks_running,
        }

    async def _tasks_running(self) -> None:
        stopped = [t.get_name() for t in self.tasks if t.done()]
        if stopped:
            raise RuntimeError(f"stopped: {', '.join(stopped)}")


HandlerMiddleware = Callable[[MessageHandler], MessageHandler]
PublisherMiddleware = Callable[[Publisher], Publisher]
BackgroundTask = Callable[["ServiceRuntime"], Coroutine[Any, Any, None]]


class RuntimeMiddleware:
    """One concern plugged into a service's runtime (metrics, tracing).

    Each hook gets the spec of the runtime it joins; the defaults change nothing, so a
    middleware overrides only what it adds.
    """

    def wrap_handler(self, handler: MessageHandler, spec: RuntimeSpec) -> MessageHandler:
        """The consumer's handler, wrapped."""
        return handler

    def wrap_publisher(self, publisher: Publisher, spec: RuntimeSpec) -> Publisher:
        """The outbox relay's publisher, wrapped."""
        return publisher

    def background(self, spec: RuntimeSpec) -> BackgroundTask | None:
        """A coroutine run beside the consumer for the runtime's life (cancelled at shutdown)."""
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeSpec:
    """What differs between services.

    service: the service's name (logs, inbox consumer name).
    settings: its settings (also the consumer concurrency, relay poll and shutdown grace).
    migrations: its Alembic folder.
    outbox / inbox: its outbox and inbox tables.
    consumes: the name of the queue it consumes.
    handler: builds the message handler from the runtime's resources.
    middleware: what wraps the handler and the relay's publisher and runs beside them,
        innermost first (default: nothing; services pass `telemetry.runtime_middleware()`).
    """

    service: str
    settings: CommonSettings
    migrations: Path
    outbox: Table
    inbox: Table
    consumes: str
    handler: Callable[[ServiceRuntime], MessageHandler]
    middleware: tuple[RuntimeMiddleware, ...] = ()

    def queues(self) -> list[QueueSpec]:
        return self.settings.queue_specs()

    def consumed_queue(self) -> QueueSpec:
        """The spec of the queue this service consumes."""
        return next(q for q in self.queues() if q.name == self.consumes)


async def _queue_urls(client: SQSClient, spec: RuntimeSpec) -> QueueUrls:
    """Create or update the queues (APPLY_TOPOLOGY), or only look them up."""
    queues = spec.queues()
    if spec.settings.apply_topology:
        return await apply_topology(client, queues)
    return await resolve_queue_urls(client, [n for q in queues for n in (q.name, q.dlq_name)])


@contextlib.asynccontextmanager
async def open_runtime(spec: RuntimeSpec) -> AsyncIterator[ServiceRuntime]:
    """Start the service's runtime; stop it gracefully when the block ends.

    Raises `StartupError` when the database or SQS cannot be reached or set up.
    """
    settings = spec.settings
    try:
        await upgrade_async(spec.migrations, settings.database_url)
    except Exception as exc:
        raise StartupError(f"database {redact(settings.database_url)}: {one_line(exc)}") from exc
    # Handlers, the relay, the API and health checks share the pool: size it to their concurrency.
    pool_size = settings.db_pool_size or settings.consumer_concurrency + 10
    engine = create_engine(settings.database_url, pool_size=pool_size)
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                client = await stack.enter_async_context(open_sqs_client(settings.sqs_options()))
                urls = await _queue_urls(client, spec)
            except Exception as exc:
                where = settings.sqs_endpoint or f"AWS ({settings.aws_region})"
                raise StartupError(f"SQS at {where}: {one_line(exc)}") from exc
            yield await stack.enter_async_context(_running(spec, engine, client, urls))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _running(
    spec: RuntimeSpec, engine: AsyncEngine, client: SQSClient, urls: QueueUrls
) -> AsyncIterator[ServiceRuntime]:
    publisher: Publisher = SqsPublisher(client)
    for middleware in spec.middleware:
        publisher = middleware.wrap_publisher(publisher, spec)
    relay = OutboxRelay(
        engine,
        spec.outbox,
        publisher,
        urls,
        RelayOptions(poll_interval_s=spec.settings.relay_poll_interval_s),
    )
    runtime = ServiceRuntime(
        service=spec.service,
        engine=engine,
        client=client,
        queue_urls=urls,
        relay=relay,
        inbox=Inbox(engine, spec.inbox, consumer=spec.service),
    )
    consumed = spec.consumed_queue()
    handler = spec.handler(runtime)
    for middleware in spec.middleware:
        handler = middleware.wrap_handler(handler, spec)
    consumer = Consumer(
        client,
        urls[consumed.name],
        handler,
        ConsumerOptions(
            concurrency=spec.settings.consumer_concurrency,
            dead_letter_queue_url=urls[consumed.dlq_name],
            shutdown_grace_s=spec.settings.shutdown_grace_s,
            # While the database is down, receive nothing rather than burn the messages'
            # receive counts (five, and a valid event would end in the DLQ).
            dependency_probe=database_check(engine),
            is_dependency_failure=dependency_unavailable,
        ),
    )
    consumer_task = spawn_logged(consumer.run(), "consumer")
    relay_task = spawn_logged(relay.run(), "outbox relay")
    runtime.consumer = consumer
    runtime.tasks = (consumer_task, relay_task)
    beside = [task for m in spec.middleware if (task := m.background(spec)) is not None]
    extras = [spawn_logged(task(runtime), f"background {i}") for i, task in enumerate(beside)]
    logger.info("%s consuming %s", spec.service, consumed.name)
    try:
        yield runtime
    finally:
        for extra in extras:
            extra.cancel()
        await asyncio.gather(*extras, return_exceptions=True)
        consumer.stop()
        await asyncio.gather(consumer_task, return_exceptions=True)
        # What the drained handlers committed goes out before the client closes.
        try:
            await relay.relay_once()
        except Exception as exc:
            logger.warning(
                "final outbox relay failed (rows stay for the next start): %s", one_line(exc)
            )
        relay.stop()
        await asyncio.gather(relay_task, return_exceptions=True)
        stats = consumer.stats
        logger.info(
            "%s stopped: %d received, %d succeeded, %d retried, %d dead-lettered",
            spec.service,
            stats.received,
            stats.succeeded,
            stats.retried,
            stats.dead_lettered,
        )
