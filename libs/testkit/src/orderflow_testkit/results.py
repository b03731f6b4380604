"""The records of a chaos scenario, shared by the system, the lab and the report.

`InjectedPoison` is a message a scenario put on a queue that can never be handled, with the DLQ
reason it must arrive with; `Progress` is what is still moving while a system settles; and
`ChaosResult` is the books of one scenario once it settled, as the report writes them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InjectedPoison:
    """A message that can never be handled, and the DLQ reason it must arrive with."""

    body: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChaosResult:
    """The books of one scenario after it settled (`settle_seconds`: from the end of the load)."""

    scenario: str
    accepted: int
    paid: int
    failed: int
    duplicate_payments: int
    lost_orders: int
    dlq_count: int
    settle_seconds: float
    ok: bool
    problems: tuple[str, ...] = ()

    def explain(self) -> str:
        return f"{self.scenario}: " + ("ok" if self.ok else "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Progress:
    """What is still moving: orders not settled, rows not published, messages not consumed."""

    pending_orders: int
    missing_orders: int
    unpublished_order_rows: int
    unpublished_payment_rows: int
    queued_messages: int

    @property
    def quiet(self) -> bool:
        return not any(dataclasses.astuple(self))
