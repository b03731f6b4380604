"""The visibility heartbeat: in-flight messages stay hidden for as long as their handlers run.

One task for the whole consumer (not one per message): it sleeps until the earliest message is
due, then extends every message due within the next quarter interval with
ChangeMessageVisibilityBatch, ten per call. A message is watched from the moment it is received
until it is settled (deleted, retried, dead-lettered or released), so a slow handler, or a FIFO
message queued behind its group, never reappears for a second delivery. A failed extension is
logged and tried again soon; it is never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orderflow_messaging._consumer_options import ConsumerStats
from orderflow_messaging._message import ReceivedMessage
from orderflow_messaging._visibility import MAX_VISIBILITY_S, change_visibility

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

logger = logging.getLogger("orderflow.consumer")


@dataclass(frozen=True, slots=True)
class HeartbeatTiming:
    """interval_s: time between extensions of one message; extension_s: visibility each sets."""

    interval_s: float
    extension_s: int


def heartbeat_timing(
    visibility_s: int, interval_s: float | None = None, extension_s: int | None = None
) -> HeartbeatTiming | None:
    """The heartbeat's timing for a receive visibility of `visibility_s`; None when there is none.

    Defaults: extend every third of the visibility timeout, by the visibility timeout. A queue
    whose visibility timeout is 0 hides nothing, so it gets no heartbeat unless both are given.
    Raises ValueError when a message could become visible between two extensions.
    """
    extension = visibility_s if extension_s is None else extension_s
    interval = visibility_s / 3 if interval_s is None else interval_s
    if visibility_s == 0 and (interval_s is None or extension_s is None):
        return None
    if not 1 <= extension <= MAX_VISIBILITY_S:
        raise ValueError(f"heartbeat_extension_s must be 1..{MAX_VISIBILITY_S}, not {extension}")
    if not 0 < interval < min(extension, visibility_s or extension):
        raise ValueError(
            f"heartbeat_interval_s ({interval}) must be above 0 and below both the visibility "
            f"timeout ({visibility_s}) and heartbeat_extension_s ({extension}), or messages "
            "reappear between two extensions"
        )
    return HeartbeatTiming(interval_s=interval, extension_s=extension)


class VisibilityHeartbeat:
    """Extends the visibility of watched messages until they are released."""

    def __init__(self, client: SQSClient, queue_url: str, stats: ConsumerStats) -> None:
        self._client = client
        self._queue_url = queue_url
        self._stats = stats
        self._timing: HeartbeatTiming | None = None
        # receipt handle -> (message, when its next extension is due, on the loop's clock)
        self._due: dict[str, tuple[ReceivedMessage, float]] = {}
        self._round: asyncio.Future[list[ReceivedMessage]] | None = None
        self._round_handles: frozenset[str] = frozenset()
        self._wake = asyncio.Event()
        self._closed = False

    def configure(self, timing: HeartbeatTiming | None) -> None:
        """Set the timing before the first `watch` (None: no heartbeat, `watch` does nothing)."""
        self._timing = timing

    def watch(self, message: ReceivedMessage, received_at: float) -> None:
        """Keep `message` hidden from now on; `received_at` is on the event loop's clock."""
        if self._timing is None:
            return
        self._due[message.receipt_handle] = (message, received_at + self._timing.interval_s)
        self._wake.set()

    async def release(self, message: ReceivedMessage) -> None:
        """Stop extending `message`; call it before deleting it or changing its visibility.

        Waits for an extension of it already on the wire, so that a late extension can never
        overwrite the visibility the caller is about to set (a retry's backoff, say).
        """
        self._due.pop(message.receipt_handle, None)
        if self._round is not None and message.receipt_handle in self._round_handles:
            # wait(), not the future itself: a cancelled caller must not cancel the round.
            await asyncio.wait({self._round})

    def close(self) -> None:
        """Stop the loop; `run()` returns once an extension round on the wire has finished."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        timing = self._timing
        if timing is None:
            return
        loop = asyncio.get_running_loop()
        # Messages due soon ride along with the due ones, so extensions go out in batches.
        coalesce_s = timing.interval_s / 4
        while not self._closed:
            self._wake.clear()
            now = loop.time()
            due = [m for m, at in self._due.values() if at <= now + coalesce_s]
            if due:
                await self._extend(due, timing, now)
                continue
            timeout = min((at for _, at in self._due.values()), default=now + 3600) - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, timeout - coalesce_s))

    async def _extend(
        self, due: list[ReceivedMessage], timing: HeartbeatTiming, now: float
    ) -> None:
        self._round = asyncio.ensure_future(
            change_visibility(self._client, self._queue_url, due, timing.extension_s)
        )
        self._round_handles = frozenset(m.receipt_handle for m in due)
        try:
            failed = {m.receipt_handle for m in await self._round}
        finally:
            self._round, self._round_handles = None, frozenset()
        # Counted from before the call: the new visibility started no earlier than `now`.
        next_at = now + timing.interval_s
        # A failed one is tried again about a quarter interval from now (past the coalescing
        # window, or the loop would retry at once, over and over, while SQS is down).
        retry_at = asyncio.get_running_loop().time() + timing.interval_s / 2
        for message in due:
            if message.receipt_handle in self._due:  # not released meanwhile
                again = retry_at if message.receipt_handle in failed else next_at
                self._due[message.receipt_handle] = (message, again)
        self._stats.extended += len(due) - len(failed)
        if failed:
            logger.warning(
                "heartbeat: %d of %d extension(s) failed; trying again soon",
                len(failed),
                len(due),
            )
