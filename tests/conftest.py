"""End-to-end fixtures: the whole system started the way `make run` starts it.

`orderflow up` runs as a subprocess on free ports with a data folder of its own; tests talk to it
over HTTP, SQS and its SQLite files, and stopping it is checked like a feature: exit code 0 and
nothing left listening. It embeds the session's SQS engine (`ORDERFLOW_TEST_ENGINE`: moto by
default, or fauxqs), so the end-to-end checks hold on both.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from orderflow_messaging import SqsClientOptions
from orderflow_testkit.engines import selected_engine
from orderflow_testkit.waiting import free_port, port_is_listening

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 45.0
UP_LINE = "orderflow is up"
# Settings that would point the system somewhere else than its own embedded parts.
FOREIGN_SETTINGS = (
    "SQS_ENDPOINT",
    "DATABASE_URL",
    "ORDER_DATABASE_URL",
    "PAYMENT_DATABASE_URL",
    "PORT",
    "HOST",
    "ORDERS_QUEUE",
    "PAYMENT_RESULTS_QUEUE",
)


@dataclass
class RunningSystem:
    """An `orderflow up` process and what it started."""

    process: subprocess.Popen[bytes]
    sqs_port: int
    order_port: int
    payment_port: int
    data_dir: Path
    engine: str
    lines: list[str] = field(default_factory=list)
    up: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    @property
    def order_url(self) -> str:
        return f"http://127.0.0.1:{self.order_port}"

    @property
    def payment_url(self) -> str:
        return f"http://127.0.0.1:{self.payment_port}"

    @property
    def sqs_options(self) -> SqsClientOptions:
        return SqsClientOptions(
            endpoint_url=f"http://127.0.0.1:{self.sqs_port}",
            access_key_id="test",
            secret_access_key="test",
        )

    @property
    def ports(self) -> tuple[int, int, int]:
        return (self.sqs_port, self.order_port, self.payment_port)

    def output(self, last: int = 60) -> str:
        return "\n".join(self.lines[-last:])

    def query(self, service: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from a service's SQLite database (`order-service` or `payment-service`)."""
        with sqlite3.connect(self.data_dir / f"{service}.db", timeout=10) as conn:
            return conn.execute(sql, params).fetchall()

    def listening(self) -> list[int]:
        return [port for port in self.ports if port_is_listening(port)]

    def assert_stopped_cleanly(self, code: int) -> None:
        """Exit code 0, the last word is "stopped", and none of the three ports listens."""
        assert code == 0, self.output()
        assert self.lines[-1].endswith("| stopped"), self.output()
        assert self.listening() == [], self.output()

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        """Send `sig` (SIGINT is Ctrl-C) and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"orderflow up did not stop within {STOP_TIMEOUT_S} s:\n{self.output()}")
        if self.reader is not None:
            self.reader.join(5)  # its last lines
        return code


def _follow(system: RunningSystem) -> None:
    stream = system.process.stdout
    assert stream is not None
    for raw in stream:
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        system.lines.append(line)
        if line.startswith(UP_LINE):
            system.up.set()


def start_system(data_dir: Path, extra_env: Mapping[str, str] | None = None) -> RunningSystem:
    """Run `orderflow up` on free ports; return once it says it is up (both services ready)."""
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_SETTINGS}
    env.update(extra_env or {})
    sqs_port, order_port, payment_port = free_port(), free_port(), free_port()
    engine = selected_engine()
    argv = [sys.executable, "-m", "orderflow_cli", "up", "--engine", engine]
    argv += ["--sqs-port", str(sqs_port)]
    argv += ["--order-port", str(order_port), "--payment-port", str(payment_port)]
    argv += ["--data-dir", str(data_dir)]
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        # Its own folder: no `.env` of the developer's is read.
        cwd=data_dir.parent,
    )
    system = RunningSystem(process, sqs_port, order_port, payment_port, data_dir, engine)
    system.reader = threading.Thread(target=_follow, args=(system,), daemon=True)
    system.reader.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not system.up.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            code = system.stop(signal.SIGTERM)
            pytest.fail(f"orderflow up did not come up (exit {code}):\n{system.output()}")
    return system


class StartSystem(Protocol):
    def __call__(self, extra_env: Mapping[str, str] | None = None) -> RunningSystem: ...


@pytest.fixture
def start_orderflow(tmp_path: Path, _sqs_engine_installed: bool) -> Iterator[StartSystem]:
    """Start a system of the test's own (to stop it in the test); stragglers are stopped after.

    Like every fixture on the session's SQS engine, it skips (fails under CI=true) when fauxqs is
    asked for and cannot be installed.
    """
    started: list[RunningSystem] = []

    def start(extra_env: Mapping[str, str] | None = None) -> RunningSystem:
        system = start_system(tmp_path / f"system{len(started)}" / "data", extra_env)
        started.append(system)
        return system

    yield start
    for system in started:
        if system.process.poll() is None:
            system.stop(signal.SIGTERM)


@pytest.fixture(scope="session")
def orderflow_system(
    tmp_path_factory: pytest.TempPathFactory, _sqs_engine_installed: bool
) -> Iterator[RunningSystem]:
    """The whole system for the session; at the end, Ctrl-C must stop it and free every port."""
    system = start_system(tmp_path_factory.mktemp("orderflow") / "data")
    try:
        yield system
    finally:
        system.assert_stopped_cleanly(system.stop(signal.SIGINT))
