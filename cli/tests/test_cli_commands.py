"""`orderflow` commands in-process: arguments, `queues init` on moto, `up` refusing busy ports."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow_cli.main import main
from orderflow_messaging import SqsClientOptions, open_sqs_client
from orderflow_testkit.waiting import free_port

ENV_VARS = (
    "SQS_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "ORDERS_QUEUE",
    "PAYMENT_RESULTS_QUEUE",
    "DATABASE_URL",
    "ORDER_DATABASE_URL",
    "PAYMENT_DATABASE_URL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine, and no `.env` file is read."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    code = exited.value.code
    assert isinstance(code, int)
    return code


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["launch"], "invalid choice: 'launch'"),
        (["up", "--order-port", "70000"], "a port is between 1 and 65535, not 70000"),
        (["up", "--sqs-port", "abc"], "not a port number: 'abc'"),
        (["up", "--ready-timeout", "-1"], "must be between 0 and 86400 seconds"),
        (["migrate", "--service", "shipping-service"], "invalid choice: 'shipping-service'"),
        (["queues"], "the following arguments are required: COMMAND"),
        (["queues", "drop"], "invalid choice: 'drop'"),
    ],
)
def test_argument_errors_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "usage: orderflow" in err


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, queue_prefix: str) -> str:
    monkeypatch.setenv("SQS_ENDPOINT", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("ORDERS_QUEUE", f"{queue_prefix}orders")
    monkeypatch.setenv("PAYMENT_RESULTS_QUEUE", f"{queue_prefix}payment-results")
    return moto_endpoint


async def describe_queues(
    options: SqsClientOptions, prefix: str, queue_url: str
) -> tuple[list[str], str]:
    async with open_sqs_client(options) as sqs:
        existing = (await sqs.list_queues(QueueNamePrefix=prefix))["QueueUrls"]
        attributes = await sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
        )
    return existing, attributes["Attributes"]["RedrivePolicy"]


def test_queues_init_creates_the_four_queues_with_redrive_and_prints_their_urls(
    moto_env: str,
    sqs_options: SqsClientOptions,
    queue_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert exit_code(["queues", "init"]) == 0

    printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    names = [f"{queue_prefix}{n}" for n in ("orders", "orders-dlq", "payment-results")]
    names.append(f"{queue_prefix}payment-results-dlq")
    assert sorted(printed) == sorted(names)
    existing, redrive_policy = asyncio.run(
        describe_queues(sqs_options, queue_prefix, printed[f"{queue_prefix}orders"])
    )
    assert sorted(existing) == sorted(printed.values())
    redrive = json.loads(redrive_policy)
    assert redrive["deadLetterTargetArn"].endswith(f":{queue_prefix}orders-dlq")
    assert int(redrive["maxReceiveCount"]) == 5


def test_queues_init_twice_is_harmless(moto_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["queues", "init"]) == 0
    first = capsys.readouterr().out
    assert exit_code(["queues", "init"]) == 0
    assert capsys.readouterr().out == first


def test_queues_init_against_an_unreachable_endpoint_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SQS_ENDPOINT", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")

    assert exit_code(["queues", "init"]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"orderflow: error: cannot reach SQS at {endpoint}")
    assert "Traceback" not in err


def test_queues_init_without_credentials_says_how_to_provide_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SQS_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    # No shared credentials file or profile either.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    assert exit_code(["queues", "init"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("orderflow: error: no AWS credentials: set AWS_ACCESS_KEY_ID")
    assert err.count("\n") == 1


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_up_refuses_a_port_that_is_taken_and_starts_nothing(
    busy_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs_port, payment_port = free_port(), free_port()
    argv = ["up", "--sqs-port", str(sqs_port), "--order-port", str(busy_port)]
    argv += ["--payment-port", str(payment_port), "--data-dir", str(tmp_path / "data")]

    assert exit_code(argv) == 1

    captured = capsys.readouterr()
    assert captured.err == (
        f"orderflow: error: port already in use on 127.0.0.1: {busy_port} for order-service "
        "(--order-port). Stop what listens there (`ss -ltnp` shows it) or choose other ports.\n"
    )
    assert "starting" not in captured.out
    assert not (tmp_path / "data").exists()


def test_up_refuses_the_same_port_twice(capsys: pytest.CaptureFixture[str]) -> None:
    port = str(free_port())
    assert exit_code(["up", "--order-port", port, "--payment-port", port]) == 1
    assert "the ports must differ" in capsys.readouterr().err


def test_queues_init_ignores_the_services_port_and_database_settings(
    moto_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "not a port")
    monkeypatch.setenv("DATABASE_URL", "mysql://elsewhere/db")

    assert exit_code(["queues", "init"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_an_unexpected_error_is_one_line_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> int:
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr("orderflow_cli.queues.run_queues_init", broken)
    monkeypatch.delenv("ORDERFLOW_DEBUG", raising=False)

    assert exit_code(["queues", "init"]) == 1
    assert capsys.readouterr().err == (
        "orderflow: unexpected error: RuntimeError: something nobody planned for "
        "(ORDERFLOW_DEBUG=1 shows the traceback)\n"
    )
