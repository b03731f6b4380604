"""The operator CLI installed the way an operations host installs it: its wheel into a fresh venv.

The wheels of orderflow-cli and the libraries it needs are built from this checkout; third-party
packages come from the package index (`uv pip install`, as any `pip install` would). The venv must
hold no moto, benchmark or Node tooling, and `orderflow queues init` and `orderflow dlq list`
must work from it against a real SQS engine, while `migrate` and `up` say what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[1]
OPERATOR_PACKAGES: Final = (
    "orderflow-cli",
    "orderflow-contracts",
    "orderflow-messaging",
    "orderflow-servicekit",
)
DEVELOPER_ONLY: Final = {
    "moto",
    "matplotlib",
    "orjson",
    "orderflow-devtools",
    "orderflow-testkit",
    "order-service",
    "payment-service",
    "nodejs-bin",
}
INSTALL_TIMEOUT_S: Final = 600


def _uv() -> str:
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv is not on PATH (make sync installs it)")
    return found


def _run(argv: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT_S, check=False
    )


@pytest.fixture(scope="module")
def operator_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only orderflow-cli (and what it declares) installed from wheels."""
    work = tmp_path_factory.mktemp("operator-cli")
    wheels = work / "wheels"
    for package in OPERATOR_PACKAGES:
        built = _run([_uv(), "build", "--package", package, "--wheel", "-o", str(wheels), "-q"])
        assert built.returncode == 0, built.stderr
    venv = work / "venv"
    created = _run([_uv(), "venv", "--python", sys.executable, "-q", str(venv)])
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    install = ["pip", "install", "-q", "--python", str(python), "--find-links", str(wheels)]
    installed = _run([_uv(), *install, "orderflow-cli"])
    assert installed.returncode == 0, installed.stderr
    return venv


def _installed(venv: Path) -> set[str]:
    listed = _run([_uv(), "pip", "list", "--python", str(venv / "bin" / "python"), "--format=json"])
    assert listed.returncode == 0, listed.stderr
    return {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}


def test_the_operator_cli_installs_without_the_developer_tools(operator_venv: Path) -> None:
    installed = _installed(operator_venv)

    assert "orderflow-cli" in installed
    assert installed & DEVELOPER_ONLY == set()


def test_the_installed_cli_lists_a_dlq_and_names_what_the_other_commands_need(
    operator_venv: Path, moto_endpoint: str, queue_prefix: str
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(operator_venv.parent),
        "SQS_ENDPOINT": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ORDERS_QUEUE": f"{queue_prefix}orders",
        "PAYMENT_RESULTS_QUEUE": f"{queue_prefix}payment-results",
    }
    orderflow = str(operator_venv / "bin" / "orderflow")

    init = _run([orderflow, "queues", "init"], env=env)
    listed = _run([orderflow, "dlq", "list", f"{queue_prefix}orders-dlq"], env=env)
    migrate = _run([orderflow, "migrate"], env=env)
    up = _run([orderflow, "up"], env=env)

    assert init.returncode == 0, init.stderr
    assert f"{queue_prefix}orders-dlq" in init.stdout
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == f"{queue_prefix}orders-dlq is empty"
    assert migrate.returncode == 1
    assert "pip install 'orderflow-cli[services]'" in migrate.stderr
    assert "Traceback" not in migrate.stderr
    assert up.returncode == 1
    assert "pip install orderflow-devtools" in up.stderr
    assert "Traceback" not in up.stderr
