"""An order-service app on a real moto server and a real database, one per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from order_service.testing import RunningOrderService, order_settings, running_order_service
from orderflow_messaging import SqsClientOptions


@pytest.fixture
async def order_service(
    database_url: str, sqs_options: SqsClientOptions, queue_prefix: str
) -> AsyncIterator[RunningOrderService]:
    async with running_order_service(
        order_settings(database_url, sqs_options, queue_prefix)
    ) as service:
        yield service
