"""FIFO queues: the messages of one group are handled one at a time, in order; groups in parallel.

Each group with work gets one task that takes its messages in the order SQS returned them. When a
message fails (it will be retried after its backoff), the rest of its group that this consumer
holds are not handled: they are made visible again at once, after the failed message's backoff is
set. SQS hands out no message of a group while an earlier one of it is in flight, so the failed
message comes back first and the group's order holds. A poison message goes to the DLQ and its
group moves on.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

from orderflow_messaging._message import ReceivedMessage
from orderflow_messaging._processor import Outcome

logger = logging.getLogger("orderflow.consumer")


class GroupDispatcher:
    """Hands received FIFO messages to one sequential runner per message group."""

    def __init__(
        self,
        *,
        process: Callable[[ReceivedMessage], Awaitable[Outcome]],
        release: Callable[[Sequence[ReceivedMessage]], Awaitable[None]],
        spawn: Callable[[Coroutine[Any, Any, None]], object],
    ) -> None:
        self._process = process
        self._release = release
        self._spawn = spawn
        # group -> its messages not yet started, for the groups that have a runner
        self._groups: dict[str, deque[ReceivedMessage]] = {}

    def dispatch(self, messages: Iterable[ReceivedMessage]) -> None:
        """Queue `messages` (in receive order) behind their groups, starting idle groups."""
        for message in messages:
            # A FIFO queue always gives a group; without one a message is a group of its own.
            group = message.group_id or f"message:{message.message_id}"
            queue = self._groups.get(group)
            if queue is None:
                queue = self._groups[group] = deque()
                self._spawn(self._run(group, queue))
            queue.append(message)

    async def _run(self, group: str, queue: deque[ReceivedMessage]) -> None:
        try:
            while queue:
                outcome = await self._process(queue.popleft())
                if outcome is Outcome.RETRIED and queue:
                    held = list(queue)
                    queue.clear()
                    logger.info("FIFO group %s: %d message(s) held back", group, len(held))
                    await self._release(held)
        finally:
            # On cancellation (shutdown) the messages left here are still in the consumer's
            # in-flight set, which releases them.
            del self._groups[group]
