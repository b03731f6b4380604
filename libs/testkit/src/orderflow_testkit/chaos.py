"""The chaos lab: the systems of one test, and what a scenario reads of them.

`ChaosLab` starts the systems of one test (each in a folder of its own), gathers their
`ChaosResult`s and, in `close()`, ends whatever is left; `read_metric` reads one sample from a
service's /metrics, so a scenario can check what the services counted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import httpx

from orderflow_testkit.options import SystemOptions
from orderflow_testkit.results import ChaosResult
from orderflow_testkit.system import OrderflowSystem

_SAMPLE: Final = re.compile(r"(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)")
_LABEL: Final = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


async def read_metric(base_url: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly `labels` on `base_url`/metrics (0 if absent)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(base_url + "/metrics")
    response.raise_for_status()
    for line in response.text.splitlines():
        match = _SAMPLE.fullmatch(line)
        if match is None or match["name"] != name:
            continue
        if dict(_LABEL.findall(match["labels"] or "")) == labels:
            return float(match["value"])
    return 0.0


class ChaosLab:
    """Starts the systems of one test, gathers their results; `close()` ends what is left."""

    def __init__(self, workdir: Path, results: list[ChaosResult] | None = None) -> None:
        self.workdir = workdir
        self.results = results if results is not None else []
        self.systems: list[OrderflowSystem] = []

    async def start(self, options: SystemOptions | None = None) -> OrderflowSystem:
        system = OrderflowSystem(
            self.workdir / f"system{len(self.systems) + 1}", options or SystemOptions()
        )
        system.results = self.results
        self.systems.append(system)  # before it boots: a failed start shows its logs too
        await system.boot()
        return system

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        return {
            f"{system.workdir.name}/{name}": tail
            for system in self.systems
            for name, tail in system.log_tails(lines).items()
        }

    async def close(self) -> None:
        for system in self.systems:
            await system.close()
