"""The developer subcommands the `orderflow` CLI finds through the `orderflow.commands` group.

The CLI parses the arguments (so `orderflow --help` lists every command without importing this
package) and hands the namespace to the entry point named after the command.
"""

from __future__ import annotations

import argparse
import os


def up_command(args: argparse.Namespace) -> int:
    """`orderflow up`: the whole system, no Docker."""
    from orderflow_devtools.up import UpOptions, run_up

    return run_up(
        UpOptions(
            sqs_port=args.sqs_port,
            order_port=args.order_port,
            payment_port=args.payment_port,
            data_dir=args.data_dir,
            ready_timeout_s=args.ready_timeout,
            engine=args.engine,
        )
    )


def bench_command(args: argparse.Namespace) -> int:
    """`orderflow bench`: orderflow against the seed baseline on one engine."""
    from orderflow_devtools.bench.run import BenchOptions, run_bench

    postgres = os.environ.get("BENCH_POSTGRES") or os.environ.get(
        "ORDERFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    return run_bench(
        BenchOptions(
            engine=args.engine,
            quick=args.quick,
            results_dir=args.results_dir,
            postgres=postgres,
            sides=(args.only,) if args.only else ("seed", "orderflow"),
            baselines=args.baselines,
        )
    )
