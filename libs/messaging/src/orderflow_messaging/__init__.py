"""orderflow_messaging: SQS done right, with no knowledge of orders or payments.

- `open_sqs_client` builds the aiobotocore client from `SqsClientOptions`.
- `QueueSpec` / `apply_topology` declare queues, DLQs and redrive once, applied idempotently.
- `SqsPublisher` sends with SendMessageBatch.
- `outbox_table` / `add_to_outbox` / `OutboxRelay`: the transactional outbox.
- `outbox_insert` / `inbox_insert` / `inbox_seen`: the outbox and inbox as parts of one-statement
  units of work on PostgreSQL.
- `inbox_table` / `Inbox`: at-most-once effects for at-least-once delivery.
- `inject_trace_context` / `extract_trace_context` / `current_traceparent`: W3C trace context
  in message attributes (OpenTelemetry API only).
- `Consumer`: long polling, bounded concurrency, batched deletes, a visibility heartbeat, retry
  with backoff, poison messages to the DLQ, FIFO order per message group, graceful stop, a
  circuit breaker while a dependency is down (`is_dependency_failure` is its default test);
  `decoded(decode, handle)` keeps poison messages away from business code.
- `MessagingError` and its subclasses; `SQS_ERRORS` (what an SQS call may raise) and `one_line`
  (how a failure is named in one log line) are the vocabulary of failure every layer shares.

See the README beside this package for usage, every option and the delivery guarantees.
"""

from orderflow_messaging._backoff import BackoffPolicy, ExponentialBackoff
from orderflow_messaging._circuit import is_dependency_failure
from orderflow_messaging._client import open_sqs_client
from orderflow_messaging._config import SqsClientOptions
from orderflow_messaging._consumer import Consumer
from orderflow_messaging._consumer_options import ConsumerOptions, ConsumerStats
from orderflow_messaging._dead_letter import (
    DLQ_DETAIL_ATTRIBUTE,
    DLQ_REASON_ATTRIBUTE,
    DLQ_RECEIVE_COUNT_ATTRIBUTE,
    DLQ_SOURCE_ATTRIBUTE,
)
from orderflow_messaging._exceptions import (
    SQS_ERRORS,
    MessagingError,
    PoisonMessage,
    QueueNotFoundError,
    one_line,
)
from orderflow_messaging._handler import MessageHandler, decoded
from orderflow_messaging._inbox import Inbox, inbox_table, record_once
from orderflow_messaging._message import (
    EVENT_TYPE_ATTRIBUTE,
    TRACEPARENT_ATTRIBUTE,
    OutgoingMessage,
    ReceivedMessage,
)
from orderflow_messaging._one_statement import (
    inbox_insert,
    inbox_seen,
    outbox_insert,
    outbox_values,
)
from orderflow_messaging._outbox import Notifier, OutboxRelay, RelayOptions
from orderflow_messaging._outbox_table import add_to_outbox, outbox_table
from orderflow_messaging._publisher import (
    MAX_MESSAGE_BYTES,
    Publisher,
    SendResult,
    SqsPublisher,
    message_size,
)
from orderflow_messaging._queues import is_missing_queue, queue_depth
from orderflow_messaging._sql import UtcDateTime, utcnow
from orderflow_messaging._topology import (
    QueueSpec,
    QueueUrls,
    apply_topology,
    dead_letter_name,
    is_dead_letter_name,
    resolve_queue_urls,
)
from orderflow_messaging._tracecontext import (
    current_traceparent,
    extract_trace_context,
    inject_trace_context,
)

__all__ = [
    "DLQ_DETAIL_ATTRIBUTE",
    "DLQ_REASON_ATTRIBUTE",
    "DLQ_RECEIVE_COUNT_ATTRIBUTE",
    "DLQ_SOURCE_ATTRIBUTE",
    "EVENT_TYPE_ATTRIBUTE",
    "MAX_MESSAGE_BYTES",
    "SQS_ERRORS",
    "TRACEPARENT_ATTRIBUTE",
    "BackoffPolicy",
    "Consumer",
    "ConsumerOptions",
    "ConsumerStats",
    "ExponentialBackoff",
    "Inbox",
    "MessageHandler",
    "MessagingError",
    "Notifier",
    "OutboxRelay",
    "OutgoingMessage",
    "PoisonMessage",
    "Publisher",
    "QueueNotFoundError",
    "QueueSpec",
    "QueueUrls",
    "ReceivedMessage",
    "RelayOptions",
    "SendResult",
    "SqsClientOptions",
    "SqsPublisher",
    "UtcDateTime",
    "add_to_outbox",
    "apply_topology",
    "current_traceparent",
    "dead_letter_name",
    "decoded",
    "extract_trace_context",
    "inbox_insert",
    "inbox_seen",
    "inbox_table",
    "inject_trace_context",
    "is_dead_letter_name",
    "is_dependency_failure",
    "is_missing_queue",
    "message_size",
    "one_line",
    "open_sqs_client",
    "outbox_insert",
    "outbox_table",
    "outbox_values",
    "queue_depth",
    "record_once",
    "resolve_queue_urls",
    "utcnow",
]
