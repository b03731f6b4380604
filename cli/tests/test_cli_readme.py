"""The README's configuration table stays true to the services' Settings classes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic.fields import FieldInfo

from order_service.settings import Settings as OrderSettings
from payment_service.settings import Settings as PaymentSettings

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \| ([^|]+) \| [^|]+ \|$")
SEED_CURL = (
    'curl -X POST http://localhost:3001/orders -H "Content-Type: application/json" '
    '-d \'{"userId":"dev-user","total":42.00}\''
)


def documented() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in README.read_text().splitlines():
        if match := ROW.match(line):
            rows[match[1]] = (match[2].strip(), match[3].strip())
    return rows


def shown(field: FieldInfo | None) -> str:
    """A default as the table shows it."""
    if field is None:
        return "—"
    if field.default is None:
        return "unset"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default}`"


def test_the_configuration_table_lists_every_setting_of_both_services_with_its_default() -> None:
    names = dict.fromkeys([*OrderSettings.model_fields, *PaymentSettings.model_fields])
    expected = {
        name.upper(): (
            shown(OrderSettings.model_fields.get(name)),
            shown(PaymentSettings.model_fields.get(name)),
        )
        for name in names
    }
    assert documented() == expected


@pytest.mark.parametrize(
    "text",
    [SEED_CURL, "```mermaid", "make run", "make test", "make lint", "orderflow queues init"],
)
def test_the_readme_shows(text: str) -> None:
    assert text in README.read_text()
