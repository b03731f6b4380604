"""`orderflow`: argument parsing and the one place errors become messages and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from orderflow_cli.errors import CliError
from orderflow_cli.plugins import PROVIDERS, load_command, require_services
from orderflow_contracts import ORDER_SERVICE_PORT, PAYMENT_SERVICE_PORT

DESCRIPTION = """\
Run orderflow locally and prepare its environments.

  orderflow up              the whole system, no Docker: moto server, queues, databases,
                            order-service and payment-service (Ctrl-C stops everything)
  orderflow migrate         bring the services' databases to the newest revision
  orderflow queues init     create the queues, dead-letter queues and redrive policies
  orderflow status          live view of queues, DLQs, outboxes, orders/s and latency
  orderflow dlq list Q      show what a dead-letter queue holds, and why (messages stay)
  orderflow dlq redrive Q   move dead letters back to the queue they came from
  orderflow dlq purge Q     delete everything in a dead-letter queue (asks first)
  orderflow token --user U  mint a local bearer token for AUTH_MODE=jwt (from JWT_SECRET)
  orderflow bench           benchmark orderflow against the seed baseline on one engine
"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 86_400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orderflow",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    up = commands.add_parser(
        "up",
        help="run the whole system locally (Ctrl-C stops it)",
        description="Start moto server (unless SQS_ENDPOINT is set), create the queues, migrate "
        "the databases (SQLite in --data-dir, or ORDER_DATABASE_URL / PAYMENT_DATABASE_URL) and "
        "run both services until Ctrl-C or SIGTERM.",
    )
    up.add_argument(
        "--engine",
        choices=["moto", "fauxqs"],
        default="moto",
        help="the embedded SQS engine: moto (default) or fauxqs (fast; installed with npm into "
        "the cache on first use)",
    )
    up.add_argument("--sqs-port", type=_port, default=4566, help="the SQS engine's port (4566)")
    up.add_argument(
        "--order-port", type=_port, default=ORDER_SERVICE_PORT, help="order-service (%(default)s)"
    )
    up.add_argument(
        "--payment-port",
        type=_port,
        default=PAYMENT_SERVICE_PORT,
        help="payment-service (%(default)s)",
    )
    up.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="SQLite databases' folder (./data)"
    )
    up.add_argument(
        "--ready-timeout",
        type=_seconds,
        default=120.0,
        metavar="SECONDS",
        help="how long the services may take to become ready (120)",
    )

    migrate = commands.add_parser(
        "migrate",
        help="apply the services' database migrations",
        description="Upgrade the databases to the newest revision. URLs come from "
        "ORDER_DATABASE_URL / PAYMENT_DATABASE_URL, else DATABASE_URL when one service is "
        "selected, else each service's SQLite default under ./data/.",
    )
    migrate.add_argument(
        "--service",
        choices=["order-service", "payment-service", "all"],
        default="all",
        help="which service's database (all)",
    )

    queues = commands.add_parser("queues", help="manage the SQS queues")
    queue_commands = queues.add_subparsers(dest="queues_command", metavar="COMMAND", required=True)
    queue_commands.add_parser(
        "init",
        help="create the queues, DLQs and redrive policies (idempotent)",
        description="Create orderflow's queues on SQS_ENDPOINT (unset: AWS SQS with the default "
        "credential chain); names from ORDERS_QUEUE and PAYMENT_RESULTS_QUEUE.",
    )
    _add_dlq_commands(commands)
    _add_status_command(commands)
    _add_token_command(commands)
    _add_bench_command(commands)
    return parser


def _add_bench_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser(
        "bench",
        help="benchmark orderflow against the seed baseline (make bench)",
        description="Start the SQS engine, then the seed baseline (../shared/baselines/seed-node, "
        "or SEED_DIR; built in the cache) and orderflow (fresh PostgreSQL databases on "
        "BENCH_POSTGRES, default postgresql://postgres@127.0.0.1:5432/postgres), one after "
        "another, and measure each with the same load: api, e2e with a 0 ms and a 100 ms "
        "provider, the engine's ceiling, CPU and memory. Writes bench/results/<timestamp>.json, "
        ".md and .png (and BENCH_OUT, when set) and prints the table.",
    )
    bench.add_argument(
        "--engine", choices=["fauxqs", "moto"], default="fauxqs", help="the SQS engine (fauxqs)"
    )
    bench.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    bench.add_argument(
        "--only", choices=["seed", "orderflow"], default=None, help="measure one side only"
    )
    bench.add_argument(
        "--results-dir", type=Path, default=Path("bench/results"), help="(bench/results)"
    )
    bench.add_argument(
        "--baselines",
        type=Path,
        default=None,
        metavar="DIR",
        help="the folder holding seed-node/ (BENCH_BASELINES, else ../shared/baselines from the "
        "working directory: make bench runs from the repository root)",
    )


def _ttl(text: str) -> int:
    from orderflow_cli.token import parse_ttl

    try:
        return parse_ttl(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_token_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = commands.add_parser(
        "token",
        help="mint a local HS256 bearer token for AUTH_MODE=jwt",
        description="Print an HS256 JWT for USER signed with JWT_SECRET (or the file "
        "JWT_SECRET_FILE names), with JWT_ISSUER and JWT_AUDIENCE when set: what order-service "
        'accepts with AUTH_MODE=jwt. Use it as: curl -H "Authorization: Bearer $TOKEN" ...',
    )
    token.add_argument("--user", required=True, help="the subject (sub): whose orders")
    token.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SCOPE",
        help="a scope to grant, e.g. orders:admin (repeatable)",
    )
    token.add_argument(
        "--ttl", type=_ttl, default=3600, help="lifetime: 90s, 30m, 1h (default), up to 7d"
    )


def _add_status_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="live view of queues, DLQs, outboxes, orders per second and latency",
        description="Read both services' /metrics (ORDER_SERVICE_URL, default "
        f"http://127.0.0.1:{ORDER_SERVICE_PORT}; PAYMENT_SERVICE_URL, default "
        f"http://127.0.0.1:{PAYMENT_SERVICE_PORT}) and show "
        "each queue (visible, in flight, delayed, DLQ), each outbox backlog, orders per second "
        "and end-to-end latency percentiles, refreshed until Ctrl-C. A service that does not "
        "answer is shown as down.",
    )
    status.add_argument("--once", action="store_true", help="one snapshot, then exit")
    status.add_argument(
        "--json", action="store_true", help="JSON, one object per snapshot and line (scripts)"
    )
    status.add_argument(
        "--interval",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="seconds between refreshes (2)",
    )


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_dlq_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = commands.add_parser("dlq", help="inspect, redrive or purge a dead-letter queue")
    actions = dlq.add_subparsers(dest="dlq_command", metavar="COMMAND", required=True)
    listing = actions.add_parser(
        "list",
        help="each message's id, event type, reason, receive count and age (they stay)",
    )
    listing.add_argument("queue", metavar="QUEUE", help="the DLQ's name, e.g. orders-dlq")
    listing.add_argument("--limit", type=_limit, default=100, help="at most N messages (100)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    redrive = actions.add_parser("redrive", help="move messages back to their source queue")
    redrive.add_argument("queue", metavar="QUEUE", help="the DLQ's name, e.g. orders-dlq")
    redrive.add_argument("--limit", type=_limit, default=None, help="at most N messages (all)")
    purge = actions.add_parser("purge", help="delete every message in the DLQ")
    purge.add_argument("queue", metavar="QUEUE", help="the DLQ's name, e.g. orders-dlq")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command, return its exit code (argparse exits 2 on bad arguments)."""
    args = build_parser().parse_args(argv)
    # Each command imports its own modules: `orderflow --help` does not load the services.
    if args.command in PROVIDERS:
        return load_command(args.command)(args)
    if args.command in ("migrate", "token"):
        require_services(args.command)
    if args.command == "migrate":
        from orderflow_cli.migrate import run_migrate

        return run_migrate(args.service)
    if args.command == "token":
        from orderflow_cli.token import TokenRequest, run_token

        scopes = [s for value in args.scope for s in value.split()]
        return run_token(TokenRequest(user=args.user, scopes=scopes, ttl_s=args.ttl))
    if args.command == "dlq":
        from orderflow_cli.dlq_command import DlqCommand, run_dlq

        return run_dlq(
            DlqCommand(
                action=args.dlq_command,
                queue=args.queue,
                limit=getattr(args, "limit", None),
                yes=getattr(args, "yes", False),
                json=getattr(args, "json", False),
            )
        )
    if args.command == "status":
        from orderflow_cli.status_command import StatusOptions, run_status

        return run_status(StatusOptions(once=args.once, json=args.json, interval_s=args.interval))
    from orderflow_cli.queues import run_queues_init

    return run_queues_init()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The console script: errors are one line on stderr and exit code 1, never a traceback."""
    try:
        code = run(argv)
    except CliError as exc:
        print(f"orderflow: error: {exc}", file=sys.stderr, flush=True)
        code = 1
    except KeyboardInterrupt:
        # Ctrl-C before any child was started: nothing to clean up.
        code = 130
    except Exception as exc:
        # A bug of ours: still one line, unless the traceback is asked for.
        if os.environ.get("ORDERFLOW_DEBUG"):
            raise
        print(
            f"orderflow: unexpected error: {type(exc).__name__}: {exc} "
            "(ORDERFLOW_DEBUG=1 shows the traceback)",
            file=sys.stderr,
            flush=True,
        )
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
