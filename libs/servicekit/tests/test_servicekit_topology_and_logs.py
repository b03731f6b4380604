"""orderflow's queue topology and the log format."""

from __future__ import annotations

import logging

import pytest

from orderflow_servicekit.logs import configure_logging
from orderflow_servicekit.topology import orderflow_queues


def test_orderflow_queues_are_orders_and_payment_results_each_with_a_dlq() -> None:
    specs = orderflow_queues()
    assert [(s.name, s.dlq_name) for s in specs] == [
        ("orders", "orders-dlq"),
        ("payment-results", "payment-results-dlq"),
    ]
    assert all(s.max_receive_count == 5 and s.visibility_timeout_s == 30 for s in specs)


def test_orderflow_queues_take_names_and_numbers_from_settings() -> None:
    specs = orderflow_queues(
        orders="t-orders", payment_results="t-results", max_receive_count=3, visibility_timeout_s=7
    )
    assert [s.dlq_name for s in specs] == ["t-orders-dlq", "t-results-dlq"]
    assert all(s.max_receive_count == 3 and s.visibility_timeout_s == 7 for s in specs)


def test_configure_logging_prefixes_lines_with_the_service_and_quiets_the_sdk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("botocore", "aiobotocore")}
    try:
        configure_logging("order-service", "DEBUG", "console")
        logging.getLogger("orderflow.test").info("hello")
        assert " order-service orderflow.test: hello" in capsys.readouterr().err
        assert logging.getLogger("botocore").level == logging.WARNING
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, saved in noisy.items():
            logging.getLogger(name).setLevel(saved)
