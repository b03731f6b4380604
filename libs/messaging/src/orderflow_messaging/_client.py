"""The aiobotocore SQS client, built from options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from orderflow_messaging._config import SqsClientOptions

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


@asynccontextmanager
async def open_sqs_client(options: SqsClientOptions) -> AsyncIterator[SQSClient]:
    """Open one SQS client for the life of the block; share it, it is safe for concurrent use."""
    config = AioConfig(
        max_pool_connections=options.max_pool_connections,
        connect_timeout=5,
        # Long polls last up to 20 s; the read timeout must outlast them.
        read_timeout=30,
        retries={"mode": "standard", "max_attempts": 3},
    )
    session = get_session()
    async with session.create_client(
        "sqs",
        region_name=options.region,
        endpoint_url=options.endpoint_url,
        aws_access_key_id=options.access_key_id,
        aws_secret_access_key=options.secret_access_key,
        aws_session_token=options.session_token,
        config=config,
    ) as client:
        yield client
