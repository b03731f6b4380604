"""`orderflow up` as a process, up to the point where it refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orderflow_testkit.waiting import free_port


def test_up_refuses_a_setting_a_service_would_refuse_before_starting_anything(
    moto_endpoint: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    env.update(SQS_ENDPOINT=moto_endpoint, PAYMENT_FAILURE_RATE="2")
    argv = [sys.executable, "-m", "orderflow_cli", "up", "--data-dir", str(tmp_path / "data")]
    argv += ["--order-port", str(free_port()), "--payment-port", str(free_port())]

    result = subprocess.run(
        argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (
        "orderflow: error: payment-service: invalid settings: "
        "PAYMENT_FAILURE_RATE: Input should be less than or equal to 1\n"
    )
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()
