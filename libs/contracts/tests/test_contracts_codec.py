"""encode_event / decode_event: exact round trips, and every bad body classified as poison."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow_contracts import (
    OrderCreated,
    OrderCreatedData,
    PaymentFailed,
    PaymentFailedData,
    PaymentSucceeded,
    PaymentSucceededData,
    PoisonEventError,
    PoisonReason,
    decode_event,
    decode_order_created,
    decode_payment_result,
    encode_event,
    uuid7,
)

# No example database: it would leave a .hypothesis folder in whatever directory pytest ran from.
PROPERTY = settings(
    database=None, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
NOW = datetime(2026, 11, 26, 12, 30, 15, 123456, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def order_created() -> OrderCreated:
    return OrderCreated(
        source="/order-service",
        traceparent=TRACEPARENT,
        data=OrderCreatedData(
            order_id=uuid7(),
            user_id="dev-user",
            total=Decimal("42"),
            currency="EUR",
            created_at=NOW,
        ),
    )


def payment_succeeded() -> PaymentSucceeded:
    return PaymentSucceeded(
        source="/payment-service",
        data=PaymentSucceededData(
            order_id=uuid7(),
            payment_id=uuid7(),
            amount=Decimal("19.99"),
            currency="USD",
            processed_at=NOW,
        ),
    )


def payment_failed() -> PaymentFailed:
    return PaymentFailed(
        source="/payment-service",
        data=PaymentFailedData(
            order_id=uuid7(),
            payment_id=uuid7(),
            amount=Decimal("20000.00"),
            currency="USD",
            reason="limit_exceeded",
            processed_at=NOW,
        ),
    )


ALL_EVENTS = [order_created, payment_succeeded, payment_failed]


def wire(event: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(encode_event(event))
    return raw


def poison_reason(body: str | bytes) -> PoisonReason:
    with pytest.raises(PoisonEventError) as caught:
        decode_event(body)
    return caught.value.reason


@pytest.mark.parametrize("make", ALL_EVENTS, ids=lambda f: f.__name__)
def test_every_event_type_survives_an_encode_decode_round_trip_unchanged(make: Any) -> None:
    event = make()
    body = encode_event(event)
    assert decode_event(body) == event
    assert decode_event(body.encode("utf-8")) == event
    assert type(decode_event(body)) is type(event)


@pytest.mark.parametrize("make", [payment_succeeded, payment_failed], ids=lambda f: f.__name__)
def test_payment_results_decode_as_payment_results(make: Any) -> None:
    event = make()
    assert decode_payment_result(encode_event(event)) == event


def test_an_order_event_is_not_a_payment_result() -> None:
    with pytest.raises(PoisonEventError) as caught:
        decode_payment_result(encode_event(order_created()))
    assert caught.value.reason is PoisonReason.UNKNOWN_TYPE


def test_events_are_structured_cloudevents_with_decimal_strings_and_utc_times() -> None:
    event = order_created()
    raw = wire(event)
    assert raw["specversion"] == "1.0"
    assert raw["type"] == "orderflow.order.created.v1"
    assert raw["datacontenttype"] == "application/json"
    assert raw["id"] == str(event.id)
    assert raw["traceparent"] == TRACEPARENT
    assert raw["data"]["total"] == "42.00"
    assert raw["data"]["createdAt"] == "2026-11-26T12:30:15.123456Z"
    assert set(raw["data"]) == {"orderId", "userId", "total", "currency", "createdAt"}
    assert "traceparent" not in wire(payment_succeeded())  # absent, not null


def test_times_in_other_offsets_are_normalised_to_utc() -> None:
    raw = wire(order_created())
    raw["time"] = "2026-11-26T14:30:15+02:00"
    assert decode_event(json.dumps(raw)).time == datetime(2026, 11, 26, 12, 30, 15, tzinfo=UTC)


def test_body_that_is_not_utf8_is_poison_not_utf8() -> None:
    assert poison_reason(b"\xff\xfe{}") is PoisonReason.NOT_UTF8
    assert poison_reason(encode_event(order_created()).encode("utf-16")) is PoisonReason.NOT_UTF8


@pytest.mark.parametrize(
    "body",
    ['{"type": ', "", "not json", "{'single': 'quotes'}", "[" * 100_000, "1" * 5_000],
    ids=["truncated", "empty", "text", "single-quotes", "too-deep", "huge-integer"],
)
def test_broken_json_is_poison_invalid_json(body: str) -> None:
    assert poison_reason(body) is PoisonReason.INVALID_JSON


@pytest.mark.parametrize("body", ["[]", "[1, 2]", '"text"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_a_schema_violation(body: str) -> None:
    assert poison_reason(body) is PoisonReason.SCHEMA_VIOLATION


@pytest.mark.parametrize("event_type", ["orderflow.order.created.v2", "", None, 7, ["x"]])
def test_an_unknown_or_missing_type_is_poison_unknown_type(event_type: object) -> None:
    raw = wire(order_created())
    raw["type"] = event_type
    assert poison_reason(json.dumps(raw)) is PoisonReason.UNKNOWN_TYPE
    del raw["type"]
    assert poison_reason(json.dumps(raw)) is PoisonReason.UNKNOWN_TYPE


def _mutations() -> list[tuple[str, Any]]:
    def extra_attribute(raw: dict[str, Any]) -> None:
        raw["unexpected"] = "x"

    def extra_data_field(raw: dict[str, Any]) -> None:
        raw["data"]["unexpected"] = 1

    def missing_data_field(raw: dict[str, Any]) -> None:
        del raw["data"]["total"]

    def missing_data(raw: dict[str, Any]) -> None:
        del raw["data"]

    def wrong_specversion(raw: dict[str, Any]) -> None:
        raw["specversion"] = "0.3"

    def naive_time(raw: dict[str, Any]) -> None:
        raw["time"] = "2026-11-26T12:00:00"

    def time_before_year_one_in_utc(raw: dict[str, Any]) -> None:
        raw["time"] = "0001-01-01T00:00:00+01:00"

    def time_after_year_9999_in_utc(raw: dict[str, Any]) -> None:
        raw["data"]["createdAt"] = "9999-12-31T23:59:59-01:00"

    def three_decimals(raw: dict[str, Any]) -> None:
        raw["data"]["total"] = "0.001"

    def nan_total(raw: dict[str, Any]) -> None:
        raw["data"]["total"] = float("nan")

    def data_of_another_type(raw: dict[str, Any]) -> None:
        raw["type"] = "orderflow.payment.failed.v1"

    def bad_traceparent(raw: dict[str, Any]) -> None:
        raw["traceparent"] = "00-xyz"

    def lowercase_currency(raw: dict[str, Any]) -> None:
        raw["data"]["currency"] = "eur"

    return [
        (f.__name__, f)
        for f in (
            extra_attribute,
            extra_data_field,
            missing_data_field,
            missing_data,
            wrong_specversion,
            naive_time,
            time_before_year_one_in_utc,
            time_after_year_9999_in_utc,
            three_decimals,
            nan_total,
            data_of_another_type,
            bad_traceparent,
            lowercase_currency,
        )
    ]


@pytest.mark.parametrize(("name", "mutate"), _mutations(), ids=[n for n, _ in _mutations()])
def test_a_known_type_that_breaks_its_schema_is_poison_schema_violation(
    name: str, mutate: Any
) -> None:
    raw = wire(order_created())
    mutate(raw)
    with pytest.raises(PoisonEventError) as caught:
        decode_event(json.dumps(raw))
    assert caught.value.reason is PoisonReason.SCHEMA_VIOLATION, name
    assert caught.value.detail


# Examples each property tried, by outcome: printed by the last test of this module.
EXAMPLES: Counter[str] = Counter()


def assert_event_or_poison(
    body: str | bytes, decode: Callable[[str | bytes], object] = decode_event
) -> None:
    """Either a valid event or PoisonEventError with a reason; any other exception fails."""
    outcome: object
    try:
        outcome = decode(body)
    except PoisonEventError as exc:
        outcome = exc.reason
    assert isinstance(outcome, OrderCreated | PaymentSucceeded | PaymentFailed | PoisonReason)
    EXAMPLES["examples"] += 1
    EXAMPLES[f"outcome {outcome}" if isinstance(outcome, PoisonReason) else "outcome valid"] += 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
# Whole minutes: RFC 3339 offsets have no seconds, and pydantic would reject them before the check.
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timedelta(minutes=minutes)
)
aware_times = st.builds(
    lambda moment, offset: moment.replace(tzinfo=timezone(offset)).isoformat(),
    # The edges of the calendar, where a UTC offset pushes the time out of range, come up often.
    st.datetimes() | st.sampled_from([datetime.min, datetime.max]),
    offsets,
)
field_values = json_values | aware_times | st.sampled_from(["42.00", "-1", "1e309", "EUR", ""])


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_decode_to_an_event_or_poison(body: bytes) -> None:
    assert_event_or_poison(body)


@PROPERTY
@given(json_values)
def test_any_json_value_decodes_to_an_event_or_poison(value: Any) -> None:
    assert_event_or_poison(json.dumps(value))


@PROPERTY
@given(
    st.sampled_from(ALL_EVENTS),
    st.sampled_from(["envelope", "data"]),
    st.text(max_size=12) | st.sampled_from(["time", "id", "total", "amount", "createdAt"]),
    field_values,
)
def test_any_event_with_one_field_replaced_decodes_to_an_event_or_poison(
    make: Any, where: str, key: str, value: Any
) -> None:
    raw = wire(make())
    target = raw if where == "envelope" else raw["data"]
    if key in {"total", "amount", "createdAt", "processedAt"} and where == "envelope":
        target = raw["data"]
    target[key] = value
    assert_event_or_poison(json.dumps(raw))


@PROPERTY
@given(st.sampled_from(ALL_EVENTS), st.booleans(), aware_times)
def test_any_aware_time_decodes_to_an_event_or_poison(make: Any, in_data: bool, value: str) -> None:
    raw = wire(make())
    if in_data:
        key = "createdAt" if "createdAt" in raw["data"] else "processedAt"
        raw["data"][key] = value
    else:
        raw["time"] = value
    assert_event_or_poison(json.dumps(raw))


DECODERS = [decode_event, decode_order_created, decode_payment_result]


@PROPERTY
@given(
    st.sampled_from(DECODERS),
    st.binary(max_size=300)
    | json_values.map(json.dumps)
    | st.sampled_from([encode_event(order_created()), encode_event(payment_failed())]),
)
def test_every_decoder_turns_any_body_into_its_event_or_poison(
    decode: Callable[[str | bytes], object], body: str | bytes
) -> None:
    assert_event_or_poison(body, decode)


def test_the_decoder_properties_ran_their_examples(capsys: pytest.CaptureFixture[str]) -> None:
    # Last in the module: pytest runs a file's tests in order, after every property above.
    with capsys.disabled():
        print(f"\n[event decoder] hypothesis examples: {dict(sorted(EXAMPLES.items()))}")
    assert EXAMPLES["examples"] >= 1000
    assert EXAMPLES["outcome valid"] > 0
