"""`orderflow dlq list | redrive | purge` against a real moto server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from orderflow_cli.main import main
from orderflow_messaging import (
    EVENT_TYPE_ATTRIBUTE,
    Consumer,
    ConsumerOptions,
    PoisonMessage,
    ReceivedMessage,
    SqsClientOptions,
    apply_topology,
    open_sqs_client,
)
from orderflow_servicekit.topology import orderflow_queues
from orderflow_testkit.sqs import queue_depth, receive_messages
from orderflow_testkit.waiting import wait_for_value

POISON = ["{not json", '{"type": "orderflow.nope.v1"}', '{"type": "orderflow.order.created.v1"}']


@pytest.fixture
def queues(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sqs_options: SqsClientOptions,
    queue_prefix: str,
) -> dict[str, str]:
    """orderflow's queues under a unique prefix, the CLI pointed at them, 3 poison messages in
    orders-dlq put there by a real consumer."""
    monkeypatch.chdir(tmp_path)
    env = {
        "SQS_ENDPOINT": sqs_options.endpoint_url or "",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "ORDERS_QUEUE": f"{queue_prefix}orders",
        "PAYMENT_RESULTS_QUEUE": f"{queue_prefix}payment-results",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return asyncio.run(_poisoned(sqs_options, queue_prefix))


async def _poisoned(sqs_options: SqsClientOptions, prefix: str) -> dict[str, str]:
    async with open_sqs_client(sqs_options) as client:
        specs = orderflow_queues(
            orders=f"{prefix}orders", payment_results=f"{prefix}payment-results"
        )
        urls = await apply_topology(client, specs)
        orders, dlq = urls[f"{prefix}orders"], urls[f"{prefix}orders-dlq"]
        for body in POISON:
            await client.send_message(
                QueueUrl=orders,
                MessageBody=body,
                MessageAttributes={
                    EVENT_TYPE_ATTRIBUTE: {"DataType": "String", "StringValue": "test.v1"}
                },
            )

        async def refuse(message: ReceivedMessage) -> None:
            raise PoisonMessage("invalid_json" if "not json" in message.body else "unknown_type")

        consumer = Consumer(
            client,
            orders,
            refuse,
            # A stopped consumer's long poll lives on in the engine for up to wait_time_s and may
            # take the first redriven messages: a short visibility gives them back quickly.
            ConsumerOptions(
                wait_time_s=1,
                visibility_timeout_s=1,
                dead_letter_queue_url=dlq,
                shutdown_grace_s=1,
            ),
        )
        running = asyncio.create_task(consumer.run())
        await wait_for_value(
            lambda: queue_depth(client, dlq), lambda n: n == 3, what="3 dead letters"
        )
        await wait_for_value(lambda: queue_depth(client, orders), lambda n: n == 0, what="orders")
        consumer.stop()
        await running
        return dict(urls.urls)


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert isinstance(exited.value.code, int)
    return exited.value.code


def depth(sqs_options: SqsClientOptions, url: str) -> int:
    async def ask() -> int:
        async with open_sqs_client(sqs_options) as client:
            return await queue_depth(client, url)

    return asyncio.run(ask())


def test_list_shows_each_dead_letter_with_its_reason_and_leaves_it_there(
    queues: dict[str, str],
    queue_prefix: str,
    sqs_options: SqsClientOptions,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli(["dlq", "list", f"{queue_prefix}orders-dlq"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "MESSAGE",
        "ID",
        "EVENT",
        "TYPE",
        "REASON",
        "RECEIVES",
        "AGE",
        "SOURCE",
    ]
    assert len(table) == 4
    assert sorted(line.split()[2] for line in table[1:]) == [
        "invalid_json",
        "unknown_type",
        "unknown_type",
    ]
    assert all(line.split()[1] == "test.v1" for line in table[1:])
    assert all(line.split()[-1] == f"{queue_prefix}orders" for line in table[1:])

    assert run_cli(["dlq", "list", f"{queue_prefix}orders-dlq", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["receive_count"] for r in rows} == {1}
    assert all(r["age_s"] >= 0 for r in rows)
    assert depth(sqs_options, queues[f"{queue_prefix}orders-dlq"]) == 3


def test_redrive_moves_messages_back_without_the_dlq_bookkeeping(
    queues: dict[str, str],
    queue_prefix: str,
    sqs_options: SqsClientOptions,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dlq, orders = queues[f"{queue_prefix}orders-dlq"], queues[f"{queue_prefix}orders"]

    assert run_cli(["dlq", "redrive", f"{queue_prefix}orders-dlq", "--limit", "2"]) == 0
    assert "moved 2 message(s)" in capsys.readouterr().out
    assert depth(sqs_options, dlq) == 1
    assert run_cli(["dlq", "redrive", f"{queue_prefix}orders-dlq"]) == 0
    assert "moved 1 message(s)" in capsys.readouterr().out
    assert depth(sqs_options, dlq) == 0

    async def back() -> list[dict[str, object]]:
        async with open_sqs_client(sqs_options) as client:
            return [dict(m) for m in await receive_messages(client, orders, 3)]

    messages = asyncio.run(back())
    assert sorted(str(m["Body"]) for m in messages) == sorted(POISON)
    for message in messages:
        attributes = message["MessageAttributes"]
        assert isinstance(attributes, dict)
        assert set(attributes) == {EVENT_TYPE_ATTRIBUTE}


def test_purge_empties_the_dlq_with_yes_and_refuses_without_a_terminal(
    queues: dict[str, str],
    queue_prefix: str,
    sqs_options: SqsClientOptions,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dlq = queues[f"{queue_prefix}orders-dlq"]
    assert run_cli(["dlq", "purge", f"{queue_prefix}orders-dlq"]) == 1
    assert "pass --yes" in capsys.readouterr().err
    assert depth(sqs_options, dlq) == 3

    assert run_cli(["dlq", "purge", f"{queue_prefix}orders-dlq", "--yes"]) == 0
    assert "purged" in capsys.readouterr().out
    assert wait_depth_zero(sqs_options, dlq)


def wait_depth_zero(sqs_options: SqsClientOptions, url: str) -> bool:
    async def ask() -> int:
        async with open_sqs_client(sqs_options) as client:
            return await wait_for_value(
                lambda: queue_depth(client, url), lambda n: n == 0, what="purged"
            )

    return asyncio.run(ask()) == 0


@pytest.mark.parametrize(
    ("queue", "message"),
    [
        ("no-such-queue", "there is no queue named 'no-such-queue'"),
        ("{prefix}orders", "is not a dead-letter queue"),
    ],
)
def test_a_queue_that_is_missing_or_not_a_dlq_is_a_one_line_error(
    queues: dict[str, str],
    queue_prefix: str,
    queue: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for action in ("list", "redrive", "purge"):
        assert (
            run_cli(
                ["dlq", action, queue.format(prefix=queue_prefix), "--yes"][
                    : 3 if action != "purge" else 4
                ]
            )
            == 1
        )
        err = capsys.readouterr().err
        assert message in err
        assert len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [["dlq"], ["dlq", "list"], ["dlq", "redrive", "q", "--limit", "0"], ["dlq", "drop", "q"]],
)
def test_bad_dlq_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(argv) == 2
    assert "usage:" in capsys.readouterr().err
