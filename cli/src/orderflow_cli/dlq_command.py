"""The `orderflow dlq` commands: settings, the SQS client and error messages around `dlq.py`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError

from orderflow_cli.dlq import (
    as_json_lines,
    confirm,
    move_by_hand,
    move_with_task,
    peek,
    render_table,
    resolve_dlq,
)
from orderflow_cli.errors import CliError
from orderflow_cli.queues import describe_endpoint, load_queue_settings, sqs_refusal
from orderflow_messaging import open_sqs_client, queue_depth
from orderflow_servicekit.settings import SqsSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class DlqCommand:
    action: Literal["list", "redrive", "purge"]
    queue: str
    limit: int | None = None
    yes: bool = False
    json: bool = False


async def _run(command: DlqCommand, settings: SqsSettings) -> str:
    async with open_sqs_client(settings.sqs_options()) as client:
        dlq = await resolve_dlq(client, command.queue, settings)
        if command.action == "list":
            letters = await peek(client, dlq, command.limit or 100)
            if command.json:
                return as_json_lines(letters)
            if not letters:
                return f"{dlq.name} is empty"
            return render_table(letters)
        if command.action == "redrive":
            moved = None
            if command.limit is None:
                moved = await move_with_task(client, dlq, timeout_s=300)
            if moved is None:
                moved = await move_by_hand(client, dlq, command.limit)
            sources = ", ".join(url.rsplit("/", 1)[-1] for url in dlq.sources.values())
            return f"moved {moved} message(s) from {dlq.name} back to {sources}"
        count = await queue_depth(client, dlq.url)
        if not command.yes and not confirm(f"Delete all {count} message(s) in {dlq.name}?"):
            return "nothing deleted"
        await client.purge_queue(QueueUrl=dlq.url)
        return f"purged {dlq.name} ({count} message(s))"


def run_dlq(command: DlqCommand) -> int:
    settings = load_queue_settings()
    try:
        output = asyncio.run(_run(command, settings))
    except ClientError as exc:
        raise CliError(f"SQS at {describe_endpoint(settings)}: {sqs_refusal(exc)}") from exc
    except BotoCoreError as exc:
        raise CliError(f"cannot reach SQS at {describe_endpoint(settings)}: {exc}") from exc
    print(output, flush=True)
    return 0
