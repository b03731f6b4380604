"""`orderflow up --engine fauxqs`: installed in the cache, on loopback only, an order gets paid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from orderflow_cli.errors import CliError
from orderflow_devtools.engines import cache_dir, ensure_fauxqs
from orderflow_testkit.waiting import free_port, port_is_listening


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses with a socket listening on `port` (from /proc/net)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


@pytest.fixture(scope="module")
def fauxqs_installed() -> None:
    if shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the fauxqs tests, and npm is missing")
        pytest.skip("npm is not installed: the fauxqs engine cannot be installed")
    try:
        ensure_fauxqs(lambda line: None)
    except CliError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"fauxqs could not be installed (npm registry unreachable?): {exc}")


def test_cache_dir_is_outside_the_repository_and_follows_xdg(tmp_path: Path) -> None:
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "orderflow"
    assert cache_dir({"ORDERFLOW_CACHE_DIR": str(tmp_path / "c")}) == tmp_path / "c"
    assert cache_dir({"HOME": "/x"}).name == "orderflow"


def test_a_missing_npm_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CliError, match="npm is not installed"):
        ensure_fauxqs(lambda line: None, {"ORDERFLOW_CACHE_DIR": str(tmp_path / "cache")})
    assert not (tmp_path / "cache" / "fauxqs-2.4.1").exists()


def test_up_refuses_an_unknown_engine() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orderflow_cli", "up", "--engine", "sqlite"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice: 'sqlite'" in result.stderr


@pytest.mark.usefixtures("fauxqs_installed")
def test_up_on_fauxqs_listens_on_loopback_only_and_an_order_gets_paid(tmp_path: Path) -> None:
    sqs, order, payment = free_port(), free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("DATABASE_URL") and k not in {"SQS_ENDPOINT", "AUTH_MODE"}
    }
    argv = [sys.executable, "-m", "orderflow_cli", "up", "--engine", "fauxqs"]
    argv += ["--sqs-port", str(sqs), "--order-port", str(order), "--payment-port", str(payment)]
    argv += ["--data-dir", str(tmp_path / "data")]
    log = (tmp_path / "up.log").open("wb")
    process = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=f"http://127.0.0.1:{order}", timeout=5) as client:
            # The banner, not one service's readiness: it comes once both services are ready,
            # and a SIGTERM before it would stop `up` before it is printed.
            while "orderflow is up" not in (tmp_path / "up.log").read_text():
                assert process.poll() is None, (tmp_path / "up.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
                time.sleep(0.2)
            assert client.get("/health/ready").status_code == 200

            assert _listening_addresses(sqs) == {"0100007F"}  # 127.0.0.1, nothing else

            placed = client.post("/orders", json={"userId": "fauxqs-user", "total": "42.00"})
            assert placed.status_code == 201
            order_id = placed.json()["id"]
            status = "pending"
            while status == "pending" and time.monotonic() < deadline:
                time.sleep(0.1)
                status = client.get(f"/orders/{order_id}").json()["status"]
            assert status == "paid"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        log.close()
    output = (tmp_path / "up.log").read_text()
    assert code == 0, output
    assert "(fauxqs, embedded)" in output
    assert not port_is_listening(sqs)
