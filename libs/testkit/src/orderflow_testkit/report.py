"""The report of a chaos session.

`record_result` appends each `ChaosResult` as one JSON line to the file named by `$CHAOS_REPORT`
(when that is set), and `format_table` renders a session's results as a Markdown table, one line
per scenario.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from orderflow_testkit.results import ChaosResult

REPORT_ENV: Final = "CHAOS_REPORT"
"""Each `ChaosResult` is appended to this file as one JSON line when the variable is set."""


def record_result(result: ChaosResult, path: str | None = None) -> None:
    """Append `result` as one JSON line to `path` (default: `$CHAOS_REPORT`, if set)."""
    target = path or os.environ.get(REPORT_ENV)
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as report:
        report.write(json.dumps(dataclasses.asdict(result)) + "\n")


_COLUMNS: Final = (
    ("scenario", "scenario", 36),
    ("accepted", "accepted", 8),
    ("paid", "paid", 5),
    ("failed", "failed", 6),
    ("dup payments", "duplicate_payments", 12),
    ("lost", "lost_orders", 4),
    ("DLQ", "dlq_count", 3),
    ("settle s", "settle_seconds", 8),
    ("ok", "ok", 3),
)


def format_table(results: Sequence[ChaosResult]) -> list[str]:
    """The results as a Markdown table, one line per scenario."""
    header = "| " + " | ".join(f"{title:<{width}}" for title, _, width in _COLUMNS) + " |"
    rule = "|" + "|".join("-" * (width + 2) for _, _, width in _COLUMNS) + "|"
    lines = [header, rule]
    for result in results:
        values = dataclasses.asdict(result)
        cells = []
        for _, name, width in _COLUMNS:
            value = values[name]
            text = ("yes" if value else "NO") if isinstance(value, bool) else str(value)
            cells.append(f"{text:<{width}}" if name == "scenario" else f"{text:>{width}}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines
