"""Backoff policies: how long to wait before the next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol


class BackoffPolicy(Protocol):
    def delay_s(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failure (1-based)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ExponentialBackoff:
    """base_s * 2**(attempt-1), capped at cap_s, with "full jitter" so retries spread out.

    base_s: the first delay (default 0.5 s). cap_s: the longest delay (default 60 s).
    jitter: draw uniformly from [delay/2, delay] (default True).
    """

    base_s: float = 0.5
    cap_s: float = 60.0
    jitter: bool = True

    def delay_s(self, attempt: int) -> float:
        delay = min(self.cap_s, self.base_s * 2 ** max(0, min(attempt - 1, 30)))
        # Jitter only spreads retries over time: no secret depends on it.
        return random.uniform(delay / 2, delay) if self.jitter else delay  # noqa: S311
