"""A consumer's options, and the counts it keeps."""

from __future__ import annotations

from dataclasses import dataclass, field

from orderflow_messaging._backoff import BackoffPolicy, ExponentialBackoff
from orderflow_messaging._circuit import (
    DependencyFailure,
    DependencyProbe,
    default_probe_backoff,
    is_dependency_failure,
)


def _default_retry_backoff() -> BackoffPolicy:
    return ExponentialBackoff(base_s=1.0, cap_s=300.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerOptions:
    """How a consumer polls and handles.

    batch_size: messages per ReceiveMessage, 1..10 (default 10); never more than free permits.
    wait_time_s: long-poll wait, 0..20 (default 20).
    concurrency: messages in flight at once, received and not yet settled (default 10); the
        poller asks for no more than are free (back-pressure).
    visibility_timeout_s: the VisibilityTimeout asked for on receive (default None: the queue's
        own, read once from its attributes when `run()` starts).
    heartbeat_interval_s: how often a message still in flight gets its visibility extended
        (default None: a third of the visibility timeout). Must stay below the visibility timeout
        and `heartbeat_extension_s`.
    heartbeat_extension_s: the visibility each extension sets, from then on (default None: the
        visibility timeout).
    dead_letter_queue_url: where `PoisonMessage` sends a message (default None: it is retried and
        the queue's redrive policy moves it after maxReceiveCount receives).
    retry_backoff: visibility given to a failed message, by its receive count (default 1 s
        doubling to 5 min, jittered).
    delete_flush_interval_s: longest wait before deleting handled messages (default 0.05 s).
    min_receive_interval_s: after a ReceiveMessage that returned fewer messages than asked for,
        the next starts no sooner than this after it started (default 0.02 s). An idle queue's
        long poll is not delayed; a busy one is received in fuller batches instead of a call per
        message or two (a call costs about as much CPU for one message as for ten). 0: no wait.
    shutdown_grace_s: how long `stop()` lets in-flight handlers finish (default 10 s).
    error_pause_s: pause after a failed ReceiveMessage before polling again (default 1 s).
    fifo: handle the queue as FIFO: one message at a time per message group, in order (default
        False; a queue URL ending in ".fifo" is handled as FIFO anyway).
    dependency_probe: `async () -> None` that raises while a dependency the handlers need (the
        database) is down (default None: no circuit breaker). With it, a handler failing with a
        dependency failure opens the circuit: its message comes back after 1 s instead of its
        backoff, receiving pauses (running handlers finish), and the probe is retried with
        `dependency_probe_backoff` until it answers; then receiving resumes. An outage then
        costs a message one or two receives instead of sending it to the DLQ.
    is_dependency_failure: which handler exceptions open the circuit (default: OSError, and
        SQLAlchemy's `DBAPIError` with `connection_invalidated`, `OperationalError`,
        `InterfaceError` and pool `TimeoutError`); without a probe such failures are only logged
        on one line, without a traceback, and retried with `retry_backoff`.
    dependency_probe_backoff: the wait before each probe while the circuit is open (default 0.5 s
        doubling to 5 s, no jitter).
    """

    batch_size: int = 10
    wait_time_s: int = 20
    concurrency: int = 10
    visibility_timeout_s: int | None = None
    dead_letter_queue_url: str | None = None
    retry_backoff: BackoffPolicy = field(default_factory=_default_retry_backoff)
    delete_flush_interval_s: float = 0.05
    min_receive_interval_s: float = 0.02
    shutdown_grace_s: float = 10.0
    error_pause_s: float = 1.0
    heartbeat_interval_s: float | None = None
    heartbeat_extension_s: int | None = None
    fifo: bool = False
    dependency_probe: DependencyProbe | None = None
    is_dependency_failure: DependencyFailure = is_dependency_failure
    dependency_probe_backoff: BackoffPolicy = field(default_factory=default_probe_backoff)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10:
            raise ValueError("batch_size must be between 1 and 10")
        if not 0 <= self.wait_time_s <= 20:
            raise ValueError("wait_time_s must be between 0 and 20")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.min_receive_interval_s < 0:
            raise ValueError("min_receive_interval_s must not be negative")


@dataclass(slots=True)
class ConsumerStats:
    """What a consumer did since it started.

    received: messages received (a redelivery counts again).
    succeeded: handled and deleted.
    retried: failed, given back after a backoff.
    dead_lettered: sent to the DLQ as poison.
    released: given back unhandled, visible at once: at shutdown, or held back behind a failed
        message of their FIFO group.
    extended: visibility extensions made by the heartbeat.
    circuit_opened: times the circuit breaker opened (a dependency went down).
    """

    received: int = 0
    succeeded: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    extended: int = 0
    circuit_opened: int = 0
