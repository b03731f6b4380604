"""The public names services build on: removing or renaming one breaks them."""

from __future__ import annotations

import orderflow_messaging

EXPECTED = {
    "Notifier",
    "inbox_insert",
    "inbox_seen",
    "outbox_insert",
    "outbox_values",
    "dead_letter_name",
    "is_dead_letter_name",
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
    "decoded",
    "extract_trace_context",
    "inbox_table",
    "inject_trace_context",
    "is_dependency_failure",
    "message_size",
    "one_line",
    "is_missing_queue",
    "open_sqs_client",
    "outbox_table",
    "queue_depth",
    "record_once",
    "resolve_queue_urls",
    "utcnow",
}


def test_the_public_names_are_exactly_the_exported_ones() -> None:
    assert set(orderflow_messaging.__all__) == EXPECTED
    assert len(orderflow_messaging.__all__) == len(EXPECTED), "a name is listed twice"
    for name in orderflow_messaging.__all__:
        assert getattr(orderflow_messaging, name) is not None


def test_every_error_derives_from_messaging_error() -> None:
    base = orderflow_messaging.MessagingError
    for error in ("QueueNotFoundError", "PoisonMessage"):
        assert issubclass(getattr(orderflow_messaging, error), base)
    assert orderflow_messaging.EVENT_TYPE_ATTRIBUTE == "ce_type"
