"""Money: positive, at most two decimals, at most 1,000,000, a decimal string on the wire."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from orderflow_contracts import MAX_TOTAL, Money

MONEY = TypeAdapter[Decimal](Money)


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        "0",
        "-0.01",
        "0.001",
        0.001,
        "42.000",
        1e309,
        float("inf"),
        float("-inf"),
        float("nan"),
        "NaN",
        "sNaN",
        "Infinity",
        "1000000.01",
        2_000_000,
        "abc",
        "",
        None,
        True,
    ],
)
def test_money_rejects_values_that_are_not_a_positive_two_decimal_amount_up_to_the_max(
    value: object,
) -> None:
    with pytest.raises(ValidationError):
        MONEY.validate_python(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_000_000, Decimal("1000000.00")),
        ("1000000.00", Decimal("1000000.00")),
        ("42", Decimal("42.00")),
        (42, Decimal("42.00")),
        (42.5, Decimal("42.50")),
        ("0.01", Decimal("0.01")),
        (Decimal("19.99"), Decimal("19.99")),
    ],
)
def test_money_accepts_valid_amounts_and_keeps_them_exact(value: object, expected: Decimal) -> None:
    parsed = MONEY.validate_python(value)
    assert parsed == expected
    assert parsed.as_tuple().exponent == -2


def test_money_is_serialised_as_a_two_decimal_string() -> None:
    assert MONEY.dump_json(MONEY.validate_python("42")) == b'"42.00"'
    assert MONEY.dump_json(MONEY.validate_python(42.5)) == b'"42.50"'
    assert MONEY.dump_python(MONEY.validate_python("42"), mode="json") == "42.00"


def test_the_maximum_is_one_million() -> None:
    assert Decimal("1000000") == MAX_TOTAL
