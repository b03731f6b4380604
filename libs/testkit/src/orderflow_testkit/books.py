"""The books of a settled chaos system: what `OrderflowSystem.settle()` checks.

Once every process has stopped, `check_books` reads both databases and the DLQs directly and
counts what went wrong: one payment per accepted order, order and payment agreeing with each
other and with the total (declined above the approval limit), no stored order left unsettled,
no payment of an unknown order, no outbox row unpublished, and the orders DLQ holding exactly
the poison messages injected (the payment-results DLQ holding none).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol

from orderflow_messaging import DLQ_REASON_ATTRIBUTE, dead_letter_name
from orderflow_testkit.load import LoadReport
from orderflow_testkit.options import APPROVAL_LIMIT
from orderflow_testkit.results import InjectedPoison
from orderflow_testkit.sqs import queue_depth, receive_messages

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

LIMIT_EXCEEDED: Final = "limit_exceeded"


class _Inspected(Protocol):
    """What the books read of a system (an `OrderflowSystem`)."""

    orders_queue: str
    results_queue: str

    @property
    def sqs(self) -> SQSClient: ...

    def queue_url(self, name: str) -> str: ...

    async def fetch(self, db: str, sql: str, *args: object) -> list[Any]: ...

    async def fetchval(self, db: str, sql: str, *args: object) -> int: ...


@dataclass
class _Books:
    paid: int = 0
    failed: int = 0
    duplicate_payments: int = 0
    lost_orders: int = 0
    dlq_count: int = 0
    problems: list[str] = field(default_factory=list)


def _mismatch(total: Decimal, order: Any, payment: Any) -> str | None:
    """Why an order and its payment disagree with each other or with the total, if they do."""
    declined = total > APPROVAL_LIMIT
    want = ("payment_failed", "failed") if declined else ("paid", "succeeded")
    got = (order["status"], payment["status"])
    if got != want:
        return f"total {total}: order {got[0]}, payment {got[1]}, expected {want}"
    if declined and (order["failure_reason"], payment["reason"]) != (LIMIT_EXCEEDED,) * 2:
        return f"reasons {order['failure_reason']!r} / {payment['reason']!r}"
    return None


async def check_books(
    system: _Inspected, load: LoadReport, poison: Sequence[InjectedPoison]
) -> _Books:
    books = _Books()
    orders = {
        r["id"]: r
        for r in await system.fetch("order", "SELECT id, status, failure_reason, total FROM orders")
    }
    payments: dict[str, list[Any]] = {}
    for r in await system.fetch("payment", "SELECT order_id, status, reason FROM payments"):
        payments.setdefault(r["order_id"], []).append(r)
    books.duplicate_payments = sum(len(p) - 1 for p in payments.values() if len(p) > 1)
    if books.duplicate_payments:
        books.problems.append(f"{books.duplicate_payments} duplicate payment(s)")
    lost: list[str] = []
    mismatched: list[str] = []
    for order_id, total in load.accepted.items():
        order = orders.get(order_id)
        paid = payments.get(order_id, [])
        if order is None or order["status"] == "pending" or not paid:
            lost.append(order_id)
            continue
        books.paid += order["status"] == "paid"
        books.failed += order["status"] == "payment_failed"
        if why := _mismatch(total, order, paid[0]):
            mismatched.append(f"{order_id}: {why}")
    books.lost_orders = len(lost)
    if lost:
        books.problems.append(f"{len(lost)} accepted order(s) lost (first: {lost[0]})")
    if mismatched:
        books.problems.append(f"{len(mismatched)} mismatch(es) (first: {mismatched[0]})")
    # Orders the client gave up on may still have been committed: they must settle too.
    unsettled = [i for i, o in orders.items() if o["status"] == "pending" or i not in payments]
    if unsettled:
        books.problems.append(f"{len(unsettled)} stored order(s) unsettled: {unsettled[:3]}")
    orphans = [i for i in payments if i not in orders]
    if orphans:
        books.problems.append(f"{len(orphans)} payment(s) of unknown orders: {orphans[:3]}")
    for db in ("order", "payment"):
        left = await system.fetchval(db, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        if left:
            books.problems.append(f"{left} unpublished outbox row(s) in the {db} database")
    await _check_dead_letters(system, books, poison)
    return books


async def _check_dead_letters(
    system: _Inspected, books: _Books, poison: Sequence[InjectedPoison]
) -> None:
    orders_dlq = system.queue_url(dead_letter_name(system.orders_queue))
    results_dlq = system.queue_url(dead_letter_name(system.results_queue))
    in_orders_dlq = await queue_depth(system.sqs, orders_dlq)
    in_results_dlq = await queue_depth(system.sqs, results_dlq)
    books.dlq_count = in_orders_dlq + in_results_dlq
    if in_results_dlq:
        books.problems.append(f"{in_results_dlq} message(s) in the payment-results DLQ")
    messages = await receive_messages(system.sqs, orders_dlq, in_orders_dlq, timeout_s=15)
    found: Counter[tuple[str, str]] = Counter()
    for message in messages:
        reason = "(no reason)"
        attributes = message.get("MessageAttributes")
        if attributes and DLQ_REASON_ATTRIBUTE in attributes:
            reason = attributes[DLQ_REASON_ATTRIBUTE].get("StringValue", reason)
        found[(message.get("Body", ""), reason)] += 1
    expected: Counter[tuple[str, str]] = Counter((p.body, p.reason) for p in poison)
    if found != expected:
        missing = list((expected - found).elements())
        unexpected = list((found - expected).elements())
        books.problems.append(
            f"orders DLQ: {len(messages)} message(s), {len(poison)} expected; "
            f"missing {missing[:3]}, unexpected {[(b[:80], r) for b, r in unexpected[:3]]}"
        )
