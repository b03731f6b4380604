"""The outbox relay: rows written with the state change (`_outbox_table`), relayed to SQS.

A writer adds a row in the caller's transaction; the relay claims due rows (safe with several
relays: row locks held through the send on PostgreSQL, a lease on SQLite), sends them with
SendMessageBatch, marks a row published only once SQS acknowledged it, and gives failed rows a
backoff. A crash between the send and the mark re-sends the row, so delivery is at-least-once and
consumers de-duplicate by message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import (
    Table,
    Update,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderflow_messaging._backoff import BackoffPolicy, ExponentialBackoff
from orderflow_messaging._circuit import is_dependency_failure
from orderflow_messaging._exceptions import QueueNotFoundError, one_line
from orderflow_messaging._message import OutgoingMessage
from orderflow_messaging._outbox_table import decode_attributes
from orderflow_messaging._publisher import Publisher, SendResult
from orderflow_messaging._sql import UtcDateTime, utcnow
from orderflow_messaging._topology import QueueUrls

logger = logging.getLogger("orderflow.outbox")


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayOptions:
    """How the relay works.

    batch_size: rows claimed per round (default 100).
    poll_interval_s: the slow poll that finds rows other processes wrote, or that a crash left
        behind (default 1 s); rows written here are relayed at once through `notify()`.
    lease_s: on SQLite, how long a claim hides a row from other relays while it is being sent
        (default 10 s); a relay that died mid-send leaves its rows for this long. On PostgreSQL
        the claim is a row lock held until the send is recorded, gone with a dead relay's
        connection, and the lease only covers rows SQS answered neither way.
    retention: published rows are deleted after this long (default 1 day).
    backoff: delay before retrying a row that failed (default exponential, 0.5 s to 60 s).
    min_round_interval_s: after a round that was not full, the next starts no sooner than this
        after it started (default 0.02 s). Idle, a notified row goes at once; under load the rows
        committed meanwhile go together, in one claim and one SendMessageBatch, instead of a
        round per row. 0: a round per notify.
    """

    batch_size: int = 100
    poll_interval_s: float = 1.0
    min_round_interval_s: float = 0.02
    # Safe shorter than the 30 s it was: the lease only ever decides whether a second relay on
    # the same SQLite file may send a row again. A normal send takes milliseconds; one slower
    # than the lease (SQS hanging) can be sent twice, a duplicate the consumers' inbox absorbs,
    # never a loss, which a longer lease would not rule out either (the SDK's timeouts allow a
    # hung send about 90 s). PostgreSQL holds row locks instead of counting on the lease.
    lease_s: float = 10.0
    retention: timedelta = timedelta(days=1)
    backoff: BackoffPolicy = field(default_factory=ExponentialBackoff)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.lease_s <= 0:
            raise ValueError("lease_s must be above 0")
        if self.min_round_interval_s < 0:
            raise ValueError("min_round_interval_s must not be negative")


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    id: str
    queue: str
    message: OutgoingMessage
    attempts: int


_MARK_CHUNK = 500  # ids per UPDATE ... WHERE id IN (...)


def _claim_statement(table: Table, batch_size: int, *, postgresql: bool) -> Update:
    """The claim: up to `batch_size` due rows, leased until `:lease_until`, as of `:now`."""
    t = table
    now = bindparam("now", type_=UtcDateTime())
    due = (t.c.published_at.is_(None), t.c.available_at <= now)
    # An alias, so the subquery is not correlated with the table being updated.
    c = t.alias("candidate")
    candidates = (
        select(c.c.id)
        .where(c.c.published_at.is_(None), c.c.available_at <= now)
        .order_by(c.c.available_at)
        .limit(batch_size)
    )
    if postgresql:
        # Two relays never wait on each other: each skips the rows the other has locked.
        candidates = candidates.with_for_update(skip_locked=True)
    # A materialised CTE: as an IN (subquery) PostgreSQL may rescan the LIMIT per row and claim
    # every due row. The outer WHERE repeats the due condition, so a row claimed meanwhile by
    # another relay (possible on SQLite, which has no SKIP LOCKED) is not taken twice.
    chosen = candidates.cte("chosen").prefix_with("MATERIALIZED")
    return (
        update(t)
        .where(t.c.id == chosen.c.id, *due)
        .values(
            available_at=bindparam("lease_until", type_=UtcDateTime()),
            attempts=t.c.attempts + 1,
        )
        .returning(t.c.id, t.c.queue, t.c.body, t.c.attributes, t.c.group_id, t.c.attempts)
    )


class Notifier(Protocol):
    """What a use case wakes after a commit that added outbox rows (an `OutboxRelay`)."""

    def notify(self) -> None: ...


class OutboxRelay:
    """Publishes outbox rows to SQS: woken after each commit, and by a slow poll.

    On PostgreSQL one transaction claims due rows (`FOR UPDATE SKIP LOCKED`), sends them and
    records the outcome: several relays never send a row twice at once (each skips the rows the
    others hold), and a relay that dies takes its locks with it, so its rows are due again at
    once. SQLite cannot hold its one write lock during a call to SQS without blocking every
    writer, so there a claim is a lease: a committed UPDATE that hides the rows for `lease_s`.
    Rows SQS acknowledged whose published mark then failed (a database blip) are remembered and
    marked at the start of the next round, before anything is claimed, so they are not sent
    again.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        publisher: Publisher,
        queue_urls: QueueUrls,
        options: RelayOptions | None = None,
    ) -> None:
        self._engine = engine
        self._table = table
        self._publisher = publisher
        self._queue_urls = queue_urls
        self._options = options or RelayOptions()
        # Built once: a statement built per round costs more CPU than its round trip.
        self._claim_stmt = _claim_statement(
            table, self._options.batch_size, postgresql=engine.dialect.name == "postgresql"
        )
        self._mark_stmt = (
            update(table)
            .where(table.c.id.in_(bindparam("ids", expanding=True)))
            .values(published_at=bindparam("now", type_=UtcDateTime()))
        )
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._rounds = 0
        self._failed_rounds = 0
        # Sent (SQS acknowledged them) but not yet marked published in the database.
        self._acknowledged: set[str] = set()

    def notify(self) -> None:
        """Relay now: call after committing a transaction that added rows."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Relay until `stop()`; errors are logged and retried, never raised."""
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            started = loop.time()
            self._wake.clear()
            try:
                relayed = await self.relay_once()
            except Exception as exc:
                self._round_failed(exc)
                relayed = 0
            else:
                if self._failed_rounds:
                    logger.info(
                        "outbox relay works again after %d failed round(s)", self._failed_rounds
                    )
                    self._failed_rounds = 0
            if relayed >= self._options.batch_size:
                continue  # a full batch: more rows are probably waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._options.poll_interval_s)
            # Rows notified meanwhile wait for the rest of the interval, to go in one round.
            spacing = started + self._options.min_round_interval_s - loop.time()
            if spacing > 0 and not self._stopping.is_set():
                await asyncio.sleep(spacing)

    def _round_failed(self, exc: Exception) -> None:
        self._failed_rounds += 1
        if not is_dependency_failure(exc):
            logger.error("outbox relay round failed; retrying", exc_info=exc)
        elif self._failed_rounds == 1:
            # One line for an outage, not a traceback per round.
            logger.warning(
                "outbox relay: the database is unavailable (%s); retrying every %g s",
                one_line(exc),
                self._options.poll_interval_s,
            )
        else:
            logger.debug("outbox relay round %d failed: %s", self._failed_rounds, one_line(exc))

    async def relay_once(self) -> int:
        """Claim due rows, publish them and record the outcome; return how many were published.

        Rows acknowledged in an earlier round whose mark failed are marked published first.
        """
        await self._mark_acknowledged()
        if self._engine.dialect.name == "postgresql":
            return await self._relay_locked()
        return await self._relay_leased()

    async def _relay_locked(self) -> int:
        # Claim, send and record in ONE transaction: the rows stay locked until the commit.
        rows: list[ClaimedRow] = []
        published: list[str] = []
        failures: dict[str, str] = {}
        try:
            async with self._engine.begin() as conn:
                rows = await self._claim(conn)
                if rows:
                    published, failures = await self._publish(rows)
                    await self._record(conn, rows, published, failures)
        except BaseException:
            self._remember(published)
            raise
        return await self._finish(rows, published, failures)

    async def _relay_leased(self) -> int:
        async with self._engine.begin() as conn:
            rows = await self._claim(conn)
        published: list[str] = []
        failures: dict[str, str] = {}
        if rows:
            published, failures = await self._publish(rows)
            try:
                async with self._engine.begin() as conn:
                    await self._record(conn, rows, published, failures)
            except BaseException:
                self._remember(published)
                raise
        return await self._finish(rows, published, failures)

    async def _finish(
        self, rows: list[ClaimedRow], published: list[str], failures: dict[str, str]
    ) -> int:
        if not rows:
            await self._maybe_purge()
            return 0
        if failures:
            logger.warning(
                "outbox: %d published, %d failed (first: %s)",
                len(published),
                len(failures),
                next(iter(failures.values())),
            )
        return len(published)

    def _remember(self, published: list[str]) -> None:
        if not published:
            return
        self._acknowledged.update(published)
        logger.warning(
            "outbox: %d row(s) sent but not marked published; marking them before the next claim",
            len(published),
        )

    async def _mark_acknowledged(self) -> None:
        if not self._acknowledged:
            return
        ids = sorted(self._acknowledged)
        t = self._table
        now = utcnow()
        async with self._engine.begin() as conn:
            for start in range(0, len(ids), _MARK_CHUNK):
                chunk = ids[start : start + _MARK_CHUNK]
                await conn.execute(
                    update(t)
                    .where(t.c.id.in_(chunk), t.c.published_at.is_(None))
                    .values(published_at=now)
                )
        self._acknowledged.difference_update(ids)
        logger.info("outbox: %d row(s) sent earlier marked published", len(ids))

    async def _publish(self, rows: list[ClaimedRow]) -> tuple[list[str], dict[str, str]]:
        """Send `rows`; return the ids SQS acknowledged and, for the others, why not."""
        by_queue: dict[str, list[ClaimedRow]] = defaultdict(list)
        for row in rows:
            by_queue[row.queue].append(row)
        published: list[str] = []
        failures: dict[str, str] = {}
        sending: list[tuple[list[ClaimedRow], Awaitable[SendResult]]] = []
        for queue, queue_rows in by_queue.items():
            try:
                url = self._queue_urls[queue]
            except QueueNotFoundError as exc:
                # One row naming an unknown queue must not hold back the rest of the batch.
                failures.update({r.id: str(exc) for r in queue_rows})
                continue
            sending.append((queue_rows, self._publisher.send(url, [r.message for r in queue_rows])))
        results = await asyncio.gather(*(send for _, send in sending), return_exceptions=True)
        for (queue_rows, _), result in zip(sending, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                # A publisher that raised still gets its rows a backoff, and the other queues'
                # rows sent in this round are still marked published (not re-sent after the lease).
                failures.update({r.id: f"{type(result).__name__}: {result}" for r in queue_rows})
                continue
            published.extend(result.sent)
            failures.update(result.failed)
        return published, failures

    async def _claim(self, conn: AsyncConnection) -> list[ClaimedRow]:
        now = utcnow()
        result = await conn.execute(
            self._claim_stmt,
            {"now": now, "lease_until": now + timedelta(seconds=self._options.lease_s)},
        )
        # ids are time-ordered: sorting keeps the order in which rows were written
        fetched = sorted(result.all(), key=lambda r: str(r.id))
        return [
            ClaimedRow(
                id=r.id,
                queue=r.queue,
                message=OutgoingMessage(
                    id=r.id,
                    body=r.body,
                    attributes=decode_attributes(r.attributes),
                    group_id=r.group_id,
                ),
                attempts=r.attempts,
            )
            for r in fetched
        ]

    async def _record(
        self,
        conn: AsyncConnection,
        rows: list[ClaimedRow],
        published: list[str],
        failures: dict[str, str],
    ) -> None:
        t = self._table
        now = utcnow()
        attempts = {row.id: row.attempts for row in rows}
        if published:
            await conn.execute(self._mark_stmt, {"ids": published, "now": now})
        for row_id, error in failures.items():
            delay_s = self._options.backoff.delay_s(attempts.get(row_id, 1))
            await conn.execute(
                update(t)
                .where(t.c.id == row_id)
                .values(available_at=now + timedelta(seconds=delay_s), last_error=error[:2000])
            )

    async def _maybe_purge(self) -> None:
        self._rounds += 1
        if self._rounds % 60:
            return
        t = self._table
        cutoff = utcnow() - self._options.retention
        async with self._engine.begin() as conn:
            await conn.execute(delete(t).where(t.c.published_at < cutoff))

    async def backlog(self) -> int:
        """How many rows wait to be published."""
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(func.count())
                .select_from(self._table)
                .where(self._table.c.published_at.is_(None))
            )
            return int(result.scalar_one())
