"""`orderflow queues init`: create the queues, DLQs and redrive policies, idempotently."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from pydantic import ValidationError

from orderflow_cli.errors import CliError
from orderflow_messaging import QueueUrls, apply_topology, open_sqs_client
from orderflow_servicekit.settings import SqsSettings, settings_error


class QueueSettings(SqsSettings):
    """The SQS part of the services' settings, read from the same variables (and `.env`)."""


def load_queue_settings(overrides: Mapping[str, Any] | None = None) -> QueueSettings:
    """Settings from the environment, with `overrides` (field name → value) taking precedence."""
    try:
        return QueueSettings(**dict(overrides or {}))
    except ValidationError as exc:
        raise CliError(f"invalid settings: {settings_error(exc)}") from exc


def describe_endpoint(settings: SqsSettings) -> str:
    return settings.sqs_endpoint or f"AWS SQS in {settings.aws_region}"


def sqs_refusal(exc: ClientError) -> str:
    """SQS's own `Code: Message` for a refused call, the part of the error a user can act on."""
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', exc)}"


async def init_queues(settings: SqsSettings) -> QueueUrls:
    """Apply orderflow's topology to the engine `settings` name; return every queue's URL."""
    specs = settings.queue_specs()
    try:
        async with open_sqs_client(settings.sqs_options()) as client:
            return await apply_topology(client, specs)
    except ClientError as exc:
        raise CliError(
            f"SQS at {describe_endpoint(settings)} refused to create the queues: {sqs_refusal(exc)}"
        ) from exc
    except NoCredentialsError as exc:
        raise CliError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value for a "
            "local engine such as moto or LocalStack), or configure a profile or an IAM role"
        ) from exc
    except BotoCoreError as exc:
        # EndpointConnectionError, NoCredentialsError, NoRegionError, ...: all say what is wrong.
        raise CliError(f"cannot reach SQS at {describe_endpoint(settings)}: {exc}") from exc


def run_queues_init() -> int:
    """The command: create the queues, print `name url` per queue."""
    settings = load_queue_settings()
    urls = asyncio.run(init_queues(settings))
    for name, url in urls.urls.items():
        print(f"{name}\t{url}", flush=True)
    return 0
