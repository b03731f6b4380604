"""The metrics both services export, on prometheus_client's default registry.

Names follow Prometheus conventions: the `orderflow_` prefix, base units in the name (seconds),
`_total` on counters, histograms for durations. Labels have few values each: never an order or
message id. Services add their own business metrics in their `metrics` module.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

FAST_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""For work done in one process: an HTTP request, a publish, a handler."""

SLOW_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
"""For work that crosses queues and may wait out retries: lag, end-to-end latency."""

HTTP_REQUESTS: Final = Counter(
    "orderflow_http_requests_total",
    "HTTP requests answered, by route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_DURATION: Final = Histogram(
    "orderflow_http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response.",
    ["service", "method", "route"],
    buckets=FAST_BUCKETS,
)

MESSAGES_RECEIVED: Final = Counter(
    "orderflow_messages_received_total",
    "Messages handed to the handler (every delivery, redeliveries included).",
    ["service", "queue", "event_type"],
)
MESSAGES_HANDLED: Final = Counter(
    "orderflow_messages_handled_total",
    "Messages the handler finished, by outcome: succeeded, retried (any exception: the message "
    "comes back after a backoff) or dead_lettered (PoisonMessage: sent to the DLQ at once).",
    ["service", "queue", "event_type", "outcome"],
)
HANDLER_DURATION: Final = Histogram(
    "orderflow_message_handler_duration_seconds",
    "Time the handler took per message, whatever its outcome.",
    ["service", "queue", "event_type"],
    buckets=FAST_BUCKETS,
)
MESSAGE_LAG: Final = Histogram(
    "orderflow_message_lag_seconds",
    "Age of a message's event when the consumer received it: now minus the CloudEvents `time` "
    "(written with the state change), so outbox wait, queue wait and retries all count.",
    ["queue"],
    buckets=SLOW_BUCKETS,
)

MESSAGES_PUBLISHED: Final = Counter(
    "orderflow_messages_published_total",
    "Messages the outbox relay tried to publish, by outcome: sent or failed (retried later).",
    ["service", "queue", "outcome"],
)
OUTBOX_PUBLISH_DURATION: Final = Histogram(
    "orderflow_outbox_publish_seconds",
    "Time one publish call of the outbox relay took (up to 100 messages, in batches of 10).",
    ["service", "queue"],
    buckets=FAST_BUCKETS,
)
OUTBOX_BACKLOG: Final = Gauge(
    "orderflow_outbox_backlog",
    "Outbox rows not published yet (sampled by a background task).",
    ["service"],
)
OUTBOX_OLDEST_AGE: Final = Gauge(
    "orderflow_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not published yet; 0 when there is none (sampled).",
    ["service"],
)

QUEUE_MESSAGES: Final = Gauge(
    "orderflow_queue_messages",
    "Approximate messages in a queue the service consumes, or in its DLQ, by state: visible, "
    "in_flight (received, not deleted) or delayed (sampled by a background task).",
    ["queue", "state"],
)
