"""The JSON Schemas in libs/contracts/schemas are exactly what the models render."""

from __future__ import annotations

from orderflow_contracts._schemas import SCHEMA_DIR, event_schemas, render


def test_exported_schemas_match_the_models_or_make_schemas_must_be_run() -> None:
    expected = {f"{event_type}.json": render(s) for event_type, s in event_schemas().items()}
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in SCHEMA_DIR.glob("*.json")}
    stale = sorted(name for name in expected if on_disk.get(name) != expected[name])
    extra = sorted(set(on_disk) - set(expected))
    hint = "libs/contracts/schemas drifted from the models: run `make schemas`, commit the result"
    assert not stale, f"{hint} (stale: {stale})"
    assert not extra, f"{hint} (files no model renders: {extra})"


def test_every_event_type_has_a_schema_with_its_id_and_strict_envelope() -> None:
    schemas = event_schemas()
    assert set(schemas) == {
        "orderflow.order.created.v1",
        "orderflow.payment.succeeded.v1",
        "orderflow.payment.failed.v1",
    }
    for event_type, schema in schemas.items():
        assert schema["$id"].endswith(f"/{event_type}.json")
        assert schema["additionalProperties"] is False
        assert schema["properties"]["type"]["const"] == event_type
