"""Stopping `orderflow up`: Ctrl-C and SIGTERM leave nothing running; a dying child stops all."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tests.conftest import StartSystem

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_every_process_and_leaves_nothing_listening(
    sig: signal.Signals, start_orderflow: StartSystem
) -> None:
    system = start_orderflow()
    response = httpx.post(f"{system.order_url}/orders", json={"userId": "u", "total": 1})
    assert response.status_code == 201

    code = system.stop(sig)

    system.assert_stopped_cleanly(code)
    output = system.output(200)
    for name in ("order-service", "payment-service", system.engine):
        assert f"{name} stopped (exit code 0)" in output
    # Services first, the SQS engine last.
    assert output.index(f"{system.engine} stopped") > output.index("order-service stopped")
    assert output.index(f"{system.engine} stopped") > output.index("payment-service stopped")


def child_pids(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_a_service_that_dies_stops_the_rest_and_up_exits_1_naming_it(
    start_orderflow: StartSystem,
) -> None:
    system = start_orderflow()
    [payment] = [
        pid for pid in child_pids(system.process.pid) if "payment_service" in command_line(pid)
    ]

    os.kill(payment, signal.SIGKILL)
    code = system.process.wait(45)
    if system.reader is not None:
        system.reader.join(5)

    output = system.output(200)
    assert code == 1, output
    assert "payment-service exited unexpectedly (killed by SIGKILL)" in output
    assert "order-service stopped (exit code 0)" in output
    assert f"{system.engine} stopped (exit code 0)" in output
    assert system.listening() == [], output
