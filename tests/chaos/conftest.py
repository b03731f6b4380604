"""Chaos scenarios: a lab per test, the logs of a failed scenario, the session's table.

Every scenario runs real processes (the session's SQS engine, order-service, payment-service)
against PostgreSQL; without PostgreSQL they skip, except under CI=true where they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest

from orderflow_testkit.chaos import ChaosLab
from orderflow_testkit.report import REPORT_ENV, format_table
from orderflow_testkit.results import ChaosResult

RESULTS = pytest.StashKey[list[ChaosResult]]()
LAB = pytest.StashKey[ChaosLab]()


@pytest.fixture
async def chaos(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChaosLab]:
    """Starts the test's systems; afterwards kills whatever is left and drops its databases."""
    request.getfixturevalue("_postgres_checked")  # skip, or fail under CI=true, without PG
    request.getfixturevalue("_sqs_engine_installed")  # the same, without the engine
    results = request.config.stash.setdefault(RESULTS, [])
    lab = ChaosLab(tmp_path, results)
    request.node.stash[LAB] = lab
    try:
        yield lab
    finally:
        await lab.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed scenario's report carries the last lines of every process's log."""
    report = yield
    lab = item.stash.get(LAB, None)
    if report.failed and lab is not None:
        for name, tail in lab.log_tails().items():
            report.sections.append((f"log tail: {name}", tail))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    results = terminalreporter.config.stash.get(RESULTS, [])
    if not results:
        return
    terminalreporter.write_sep("=", "chaos scenarios")
    for line in format_table(results):
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        "settle s: from the last order accepted until every order settled and both queues "
        f"and outboxes drained; ${REPORT_ENV} names a JSON-lines copy"
    )
