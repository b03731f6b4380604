"""JSON Schemas of the events, exported into the repository so other languages can read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from orderflow_contracts._events import OrderCreated, PaymentFailed, PaymentSucceeded

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

EVENT_MODELS: dict[str, type[BaseModel]] = {
    "orderflow.order.created.v1": OrderCreated,
    "orderflow.payment.succeeded.v1": PaymentSucceeded,
    "orderflow.payment.failed.v1": PaymentFailed,
}


def event_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema (draft 2020-12) of each event type, as it is on the wire."""
    schemas: dict[str, dict[str, Any]] = {}
    for event_type, model in EVENT_MODELS.items():
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        schemas[event_type] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://orderflow.dev/schemas/{event_type}.json",
            **schema,
        }
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write one `<event type>.json` file per event; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type, schema in event_schemas().items():
        path = directory / f"{event_type}.json"
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in export_schemas():
        print(path)
