"""The outbox relay against a real moto server and real databases."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, Row, Table, event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    ExponentialBackoff,
    OutboxRelay,
    OutgoingMessage,
    Publisher,
    QueueSpec,
    RelayOptions,
    SendResult,
    SqsClientOptions,
    SqsPublisher,
    add_to_outbox,
    apply_topology,
    open_sqs_client,
    outbox_table,
    utcnow,
)
from orderflow_servicekit.db import create_engine
from orderflow_testkit.sqs import queue_depth, receive_messages
from orderflow_testkit.waiting import free_port, wait_for_value

ONE_SECOND = ExponentialBackoff(base_s=1.0, cap_s=60.0, jitter=False)


@dataclass
class Outbox:
    url: str
    engine: AsyncEngine
    table: Table

    async def add(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        async with self.engine.begin() as conn:
            await add_to_outbox(conn, self.table, queue, messages)

    async def rows(self) -> dict[str, Row[Any]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(self.table))
            return {row.id: row for row in result}


@pytest.fixture
async def outbox(database_url: str) -> AsyncIterator[Outbox]:
    metadata = MetaData()
    table = outbox_table(metadata)
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield Outbox(database_url, engine, table)
    finally:
        await engine.dispose()


class CountingPublisher:
    """Counts what the wrapped publisher really sent (moto may deliver a message twice).

    delay_s: a pause after each send, so that the rounds of several relays overlap.
    """

    def __init__(self, inner: Publisher, sent: Counter[str], delay_s: float = 0.0) -> None:
        self._inner = inner
        self.sent = sent
        self._delay_s = delay_s

    async def send(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> SendResult:
        result = await self._inner.send(queue_url, messages)
        self.sent.update(result.sent)
        if self._delay_s:
            await asyncio.sleep(self._delay_s)  # a slow network, while the claim is held
        return result


class StuckPublisher:
    """A send that never returns: where a relay is when its process dies."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def send(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> SendResult:
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class BrokenPublisher:
    async def send(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> SendResult:
        raise RuntimeError("publisher bug")


def _messages(count: int, prefix: str = "m") -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            id=f"{prefix}{i:03d}",
            body=json.dumps({"n": i, "p": prefix}),
            attributes={EVENT_TYPE_ATTRIBUTE: "t"},
        )
        for i in range(count)
    ]


async def test_rows_written_in_a_transaction_reach_the_queue_once_and_are_marked_published(
    sqs_options: SqsClientOptions, outbox: Outbox, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    messages = _messages(25)
    await outbox.add(queue, messages)
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        relay = OutboxRelay(
            outbox.engine, outbox.table, SqsPublisher(client), urls, RelayOptions(batch_size=10)
        )
        assert [await relay.relay_once() for _ in range(4)] == [10, 10, 5, 0]
        assert await relay.backlog() == 0

        received = await receive_messages(client, urls[queue], 25)
        assert sorted(m["Body"] for m in received) == sorted(m.body for m in messages)
        assert all(
            m["MessageAttributes"][EVENT_TYPE_ATTRIBUTE]["StringValue"] == "t" for m in received
        )
    rows = await outbox.rows()
    assert all(row.published_at is not None for row in rows.values())
    assert all(row.attempts == 1 for row in rows.values())


async def test_adding_no_messages_writes_nothing(outbox: Outbox) -> None:
    await outbox.add("orders", [])
    assert await outbox.rows() == {}


async def test_two_relays_on_one_table_publish_every_row_exactly_once(
    sqs_options: SqsClientOptions, outbox: Outbox, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    messages = _messages(200)
    await outbox.add(queue, messages)
    sent: Counter[str] = Counter()
    # Two engines, as two service replicas would have.
    engines = [outbox.engine, create_engine(outbox.url)]
    options = RelayOptions(batch_size=20, poll_interval_s=0.05)
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        publisher = CountingPublisher(SqsPublisher(client), sent, delay_s=0.02)
        relays = [OutboxRelay(e, outbox.table, publisher, urls, options) for e in engines]
        tasks = [asyncio.create_task(relay.run()) for relay in relays]
        try:
            await wait_for_value(relays[0].backlog, lambda n: n == 0, timeout_s=60)
        finally:
            for relay in relays:
                relay.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
            await engines[1].dispose()

        assert sorted(sent) == [m.id for m in messages]
        assert [i for i, n in sent.items() if n > 1] == []
        received = await receive_messages(client, urls[queue], 200, timeout_s=60)
        assert sorted(m["Body"] for m in received) == sorted(m.body for m in messages)
    rows = await outbox.rows()
    assert all(row.published_at is not None for row in rows.values())


async def test_run_publishes_a_row_right_after_notify(
    sqs_options: SqsClientOptions, outbox: Outbox, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        # The slow poll would take a minute: only notify() can explain a quick publish.
        options = RelayOptions(poll_interval_s=60)
        relay = OutboxRelay(outbox.engine, outbox.table, SqsPublisher(client), urls, options)
        await outbox.add(queue, _messages(1, "first"))
        task = asyncio.create_task(relay.run())
        try:
            # The first round finds the first row; then the relay sleeps on its slow poll.
            await receive_messages(client, urls[queue], 1, timeout_s=5)
            await outbox.add(queue, _messages(1, "second"))
            relay.notify()
            [message] = await receive_messages(client, urls[queue], 1, timeout_s=3)
            assert json.loads(message["Body"])["p"] == "second"
            await wait_for_value(relay.backlog, lambda n: n == 0)
        finally:
            relay.stop()
            await asyncio.wait_for(task, 10)


async def test_failed_rows_keep_their_backoff_and_are_published_once_sqs_is_back(
    sqs_options: SqsClientOptions, outbox: Outbox, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    await outbox.add(queue, _messages(3))
    nothing_listens = SqsClientOptions(
        endpoint_url=f"http://127.0.0.1:{free_port()}", access_key_id="x", secret_access_key="x"
    )
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        options = RelayOptions(backoff=ONE_SECOND)
        async with open_sqs_client(nothing_listens) as down:
            relay_down = OutboxRelay(outbox.engine, outbox.table, SqsPublisher(down), urls, options)
            before = utcnow()
            assert await relay_down.relay_once() == 0
            after = utcnow()
        rows = await outbox.rows()
        for row in rows.values():
            assert row.published_at is None
            assert row.attempts == 1
            assert row.last_error
            retry_at = row.available_at
            assert isinstance(retry_at, type(before))
            assert before + timedelta(seconds=1) <= retry_at <= after + timedelta(seconds=1)

        relay = OutboxRelay(outbox.engine, outbox.table, SqsPublisher(client), urls, options)
        # SQS is back, but the rows wait out their backoff instead of being retried at once.
        assert await relay.relay_once() == 0
        assert await relay.backlog() == 3
        await wait_for_value(relay.relay_once, lambda n: n == 3, timeout_s=10)
        assert await relay.backlog() == 0
        assert utcnow() >= retry_at
        received = await receive_messages(client, urls[queue], 3)
        assert len(received) == 3
    rows = await outbox.rows()
    assert all(row.attempts == 2 for row in rows.values())


async def test_the_backoff_grows_with_each_failed_attempt(
    sqs_options: SqsClientOptions, outbox: Outbox, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    await outbox.add(queue, [OutgoingMessage(id="a", body="x")])
    backoff = ExponentialBackoff(base_s=0.2, cap_s=60.0, jitter=False)
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        await client.delete_queue(QueueUrl=urls[queue])  # SQS now refuses every send
        relay = OutboxRelay(
            outbox.engine, outbox.table, SqsPublisher(client), urls, RelayOptions(backoff=backoff)
        )

        async def attempts_after_a_round() -> int:
            await relay.relay_once()
            return int((await outbox.rows())["a"].attempts)

        for attempt, delay_s in ((1, 0.2), (2, 0.4)):
            before = utcnow()
            # The second attempt comes only once the first backoff has run out.
            await wait_for_value(attempts_after_a_round, lambda n, a=attempt: n == a)  # type: ignore[misc]
            after = utcnow()
            row = (await outbox.rows())["a"]
            assert row.last_error
            assert row.published_at is None
            retry_at = row.available_at
            delay = timedelta(seconds=delay_s)
            assert isinstance(retry_at, type(before))
            assert before + delay <= retry_at <= after + delay
        assert await relay.backlog() == 1


async def test_a_row_for_a_queue_outside_the_topology_does_not_hold_back_the_others(
    sqs_options: SqsClientOptions, outbox: Outbox, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    await outbox.add(queue, _messages(2))
    await outbox.add("nowhere", [OutgoingMessage(id="lost", body="x")])
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        options = RelayOptions(backoff=ONE_SECOND)
        relay = OutboxRelay(outbox.engine, outbox.table, SqsPublisher(client), urls, options)
        assert await relay.relay_once() == 2
        assert len(await receive_messages(client, urls[queue], 2)) == 2
        assert await queue_depth(client, urls[queue]) == 0
    lost = (await outbox.rows())["lost"]
    assert lost.published_at is None
    assert "nowhere" in str(lost.last_error)
    assert lost.available_at > utcnow()


async def test_a_publisher_that_raises_gives_its_rows_a_backoff_not_a_long_lease(
    sqs_options: SqsClientOptions, outbox: Outbox, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    await outbox.add(queue, _messages(2))
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
    relay = OutboxRelay(
        outbox.engine, outbox.table, BrokenPublisher(), urls, RelayOptions(backoff=ONE_SECOND)
    )
    before = utcnow()
    assert await relay.relay_once() == 0
    for row in (await outbox.rows()).values():
        assert row.last_error == "RuntimeError: publisher bug"
        assert row.available_at <= before + timedelta(seconds=5)


async def _kill_backends_in_a_transaction(engine: AsyncEngine) -> int:
    """Terminate the sessions holding a transaction open: what PostgreSQL sees of a dead process."""
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state LIKE 'idle in transaction%'"
            )
        )
        return int(result.scalar_one())


async def test_a_relay_that_dies_mid_send_leaves_its_rows_to_others_at_once_on_postgresql(
    sqs_options: SqsClientOptions, outbox: Outbox, queue_prefix: str
) -> None:
    postgres = outbox.engine.dialect.name == "postgresql"
    queue = f"{queue_prefix}orders"
    messages = _messages(5)
    await outbox.add(queue, messages)
    # A long lease on PostgreSQL: only the end of the dead relay's transaction frees the rows.
    # On SQLite the claim is a lease (a committed UPDATE), which a dead relay leaves behind.
    options = RelayOptions(lease_s=60 if postgres else 1, backoff=ONE_SECOND)
    dying_engine = create_engine(outbox.url)
    stuck = StuckPublisher()
    sent: Counter[str] = Counter()
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        dying = OutboxRelay(dying_engine, outbox.table, stuck, urls, options)
        survivor = OutboxRelay(
            outbox.engine,
            outbox.table,
            CountingPublisher(SqsPublisher(client), sent),
            urls,
            options,
        )
        sending = asyncio.create_task(dying.relay_once())
        try:
            await asyncio.wait_for(stuck.entered.wait(), 10)
            # While the send is under way the other relay neither takes the rows nor waits.
            assert await asyncio.wait_for(survivor.relay_once(), 5) == 0

            # The process dies: PostgreSQL sees its connection end; SQLite sees nothing.
            if postgres:
                assert await _kill_backends_in_a_transaction(outbox.engine) == 1
            else:
                sending.cancel()
            if postgres:
                assert await survivor.relay_once() == 5  # at once, no lease to wait out
            else:
                assert await survivor.relay_once() == 0
                await wait_for_value(survivor.relay_once, lambda n: n == 5, timeout_s=10)
        finally:
            sending.cancel()
            with contextlib.suppress(BaseException):
                await sending
            await dying_engine.dispose()
        received = await receive_messages(client, urls[queue], 5)
        assert sorted(m["Body"] for m in received) == sorted(m.body for m in messages)
    assert sent == Counter({m.id: 1 for m in messages})
    rows = await outbox.rows()
    assert all(row.published_at is not None for row in rows.values())
    # On PostgreSQL the dead relay's claim was rolled back with its transaction.
    assert {row.attempts for row in rows.values()} == ({1} if postgres else {2})


async def test_rows_sent_whose_mark_failed_are_marked_next_round_and_not_sent_again(
    sqs_options: SqsClientOptions, outbox: Outbox, queue_prefix: str
) -> None:
    queue = f"{queue_prefix}orders"
    messages = _messages(3)
    await outbox.add(queue, messages)
    cut = {"armed": True}

    @event.listens_for(outbox.engine.sync_engine, "before_cursor_execute")
    def _cut_the_mark(*args: object) -> None:
        statement = str(args[2])
        # The database goes away just as the relay marks what SQS acknowledged.
        if cut["armed"] and statement.startswith("UPDATE") and "published_at=" in statement:
            cut["armed"] = False
            raise ConnectionResetError(104, "Connection reset by peer")

    sent: Counter[str] = Counter()
    # A short lease: were the rows not remembered, they would be sent again within the test.
    options = RelayOptions(lease_s=0.2)
    async with open_sqs_client(sqs_options) as client:
        urls = await apply_topology(client, [QueueSpec(name=queue)])
        publisher = CountingPublisher(SqsPublisher(client), sent)
        relay = OutboxRelay(outbox.engine, outbox.table, publisher, urls, options)
        with pytest.raises(Exception, match="Connection reset by peer"):
            await relay.relay_once()
        assert not cut["armed"]
        assert sent == Counter({m.id: 1 for m in messages})
        assert await relay.backlog() == 3

        await asyncio.sleep(0.3)  # past the lease: the rows would be due again
        assert await relay.relay_once() == 0  # marked, not sent
        assert await relay.backlog() == 0
        assert await relay.relay_once() == 0
        assert sent == Counter({m.id: 1 for m in messages})
        received = await receive_messages(client, urls[queue], 3)
        assert sorted(m["Body"] for m in received) == sorted(m.body for m in messages)
        assert await queue_depth(client, urls[queue]) == 0
    rows = await outbox.rows()
    assert all(row.published_at is not None for row in rows.values())


def test_a_negative_round_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="min_round_interval_s"):
        RelayOptions(min_round_interval_s=-1)
