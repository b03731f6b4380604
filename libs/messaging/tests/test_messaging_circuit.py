"""The consumer's circuit breaker against a real moto server: a dependency outage costs no DLQ."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from orderflow_messaging import (
    Consumer,
    ConsumerOptions,
    ExponentialBackoff,
    OutgoingMessage,
    QueueSpec,
    ReceivedMessage,
    SqsClientOptions,
    SqsPublisher,
    apply_topology,
    is_dependency_failure,
    open_sqs_client,
)
from orderflow_testkit.consumers import running_consumer
from orderflow_testkit.sqs import queue_depth
from orderflow_testkit.waiting import wait_for_value

# Retries without any backoff, and a queue that dead-letters on the fourth receive: without the
# circuit breaker three receives (about a second apiece on moto) run out well within the outage
# below and the messages end in the DLQ (the second test shows it).
MAX_RECEIVE_COUNT = 3
NO_BACKOFF = ExponentialBackoff(base_s=0, cap_s=0, jitter=False)
QUICK_PROBES = ExponentialBackoff(base_s=0.2, cap_s=0.2, jitter=False)
OPTIONS = ConsumerOptions(
    wait_time_s=1,
    delete_flush_interval_s=0.02,
    retry_backoff=NO_BACKOFF,
    dependency_probe_backoff=QUICK_PROBES,
)
MESSAGES = 3
FAILED_PROBES = 20  # the outage: about 20 x 0.2 s


class Database:
    """A stand-in for a database: down until the probe has failed `failed_probes` times."""

    def __init__(self, failed_probes: int) -> None:
        self.down = True
        self.probes = 0
        self._failed_probes = failed_probes

    async def probe(self) -> None:
        self.probes += 1
        if self.probes <= self._failed_probes:
            raise ConnectionError("database does not answer")
        self.down = False  # it is back

    async def query(self) -> None:
        if self.down:
            raise ConnectionRefusedError(111, "Connect call failed")


async def _queue_with_messages(
    sqs_options: SqsClientOptions, queue: str, count: int
) -> dict[str, str]:
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(
            client,
            [QueueSpec(name=queue, visibility_timeout_s=60, max_receive_count=MAX_RECEIVE_COUNT)],
        )
        messages = [OutgoingMessage(id=f"m{i}", body=f"body-{i}") for i in range(count)]
        assert not (await SqsPublisher(client).send(urls[queue], messages)).failed
        return {queue: urls[queue], "dlq": urls[f"{queue}-dlq"]}


async def test_a_database_outage_opens_the_circuit_and_no_message_reaches_the_dlq(
    sqs_options: SqsClientOptions, queue_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = f"{queue_prefix}work"
    urls = await _queue_with_messages(sqs_options, queue, MESSAGES)
    database = Database(FAILED_PROBES)
    handled: dict[str, int] = {}
    receives: list[int] = []

    async def handler(message: ReceivedMessage) -> None:
        receives.append(message.receive_count)
        await database.query()
        handled[message.body] = message.receive_count

    caplog.set_level(logging.INFO, logger="orderflow.consumer")
    async with open_sqs_client(sqs_options) as client:
        options = replace(OPTIONS, dependency_probe=database.probe)
        consumer = Consumer(client, urls[queue], handler, options)
        async with running_consumer(consumer):
            await wait_for_value(
                lambda: queue_depth(client, urls[queue]), lambda n: n == 0, timeout_s=30
            )
        assert await queue_depth(client, urls["dlq"]) == 0

    assert sorted(handled) == [f"body-{i}" for i in range(MESSAGES)]
    # One failed receive during the outage (two if a long poll was under way), then one that
    # succeeds: the redrive's count is never reached.
    assert max(receives) <= MAX_RECEIVE_COUNT, receives
    assert database.probes == FAILED_PROBES + 1
    assert consumer.stats.circuit_opened == 1
    assert not consumer.circuit_open
    opened = [r for r in caplog.records if r.getMessage().startswith("circuit open")]
    closed = [r for r in caplog.records if r.getMessage().startswith("circuit closed")]
    assert len(opened) == 1
    assert len(closed) == 1
    assert "ConnectionRefusedError" in opened[0].getMessage()
    assert (
        f" s ({FAILED_PROBES + 1} probe(s)" in closed[0].getMessage()
    )  # the outage's length is logged
    # An outage fails every message the same way: no traceback per message.
    assert not any(r.exc_info for r in caplog.records if r.name == "orderflow.consumer")


async def test_without_a_probe_the_same_outage_sends_valid_messages_to_the_dlq(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    # What the circuit breaker prevents: retries by receive count run out during the outage.
    queue = f"{queue_prefix}work"
    urls = await _queue_with_messages(sqs_options, queue, 1)
    database = Database(failed_probes=0)

    async def handler(message: ReceivedMessage) -> None:
        await database.query()

    async with open_sqs_client(sqs_options) as client:
        consumer = Consumer(client, urls[queue], handler, OPTIONS)
        async with running_consumer(consumer):
            await wait_for_value(
                lambda: queue_depth(client, urls["dlq"]), lambda n: n == 1, timeout_s=30
            )
    assert consumer.stats.circuit_opened == 0


async def test_stop_while_the_circuit_is_open_returns_promptly_and_stops_probing(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work"
    urls = await _queue_with_messages(sqs_options, queue, 1)
    database = Database(failed_probes=10_000)  # never back

    async def handler(message: ReceivedMessage) -> None:
        await database.query()

    async with open_sqs_client(sqs_options) as client:
        options = replace(OPTIONS, dependency_probe=database.probe)
        consumer = Consumer(client, urls[queue], handler, options)
        task = asyncio.create_task(consumer.run())
        await wait_for_value(lambda: _probes(database), lambda n: n >= 2, timeout_s=10)
        assert consumer.circuit_open
        consumer.stop()
        await asyncio.wait_for(task, 5)
        probes = database.probes
        await asyncio.sleep(0.5)  # no probe runs after run() returned
        assert database.probes == probes
        # The first receive, and at most a long poll already under way when the circuit opened.
        assert consumer.stats.received <= 2


async def test_an_ordinary_failure_does_not_open_the_circuit(
    sqs_options: SqsClientOptions, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}work"
    urls = await _queue_with_messages(sqs_options, queue, 1)
    database = Database(failed_probes=0)
    receives: list[int] = []

    async def handler(message: ReceivedMessage) -> None:
        receives.append(message.receive_count)
        if message.receive_count == 1:
            raise ValueError("a bug, not an outage")

    async with open_sqs_client(sqs_options) as client:
        options = replace(OPTIONS, dependency_probe=database.probe)
        consumer = Consumer(client, urls[queue], handler, options)
        async with running_consumer(consumer):
            await wait_for_value(lambda: queue_depth(client, urls[queue]), lambda n: n == 0)
    assert receives[:2] == [1, 2]
    assert consumer.stats.circuit_opened == 0
    assert database.probes == 0


async def _probes(database: Database) -> int:
    return database.probes


def _dbapi(cls: type[DBAPIError], *, invalidated: bool = False) -> DBAPIError:
    return cls("SELECT 1", {}, Exception("driver error"), connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (OSError("Multiple exceptions"), True),
        (_dbapi(DBAPIError, invalidated=True), True),
        (_dbapi(OperationalError), True),
        (_dbapi(InterfaceError), True),
        (PoolTimeoutError("QueuePool limit reached"), True),
        (_dbapi(DBAPIError), False),
        (_dbapi(IntegrityError), False),
        (ValueError("bad data"), False),
        (RuntimeError("bug"), False),
    ],
)
def test_the_default_predicate_knows_network_and_connection_failures(
    exc: BaseException, expected: bool
) -> None:
    assert is_dependency_failure(exc) is expected
