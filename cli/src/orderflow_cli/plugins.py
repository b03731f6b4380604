"""Subcommands that live in other distributions, found through the `orderflow.commands` group.

`up` and `bench` belong to orderflow-devtools: an operations host installs the CLI without moto,
Node tooling or the benchmark, and the CLI still lists them so a developer finds them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.metadata import entry_points
from importlib.util import find_spec
from typing import cast

from orderflow_cli.errors import CliError

GROUP = "orderflow.commands"

# The distribution that provides each known developer command, for the message when it is missing.
PROVIDERS = {"up": "orderflow-devtools", "bench": "orderflow-devtools"}

Command = Callable[[argparse.Namespace], int]


def load_command(name: str) -> Command:
    """The entry point `name` of the group; a CliError naming what to install when it is absent."""
    found = entry_points(group=GROUP, name=name)
    if not found:
        provider = PROVIDERS.get(name, "the package that provides it")
        raise CliError(f"orderflow {name} needs the developer tools: pip install {provider}")
    return cast("Command", next(iter(found)).load())


def require_services(command: str) -> None:
    """A CliError naming the extra when the services' code (migrations, JWT settings) is absent."""
    # find_spec, not import: the check must not load the services for a command that fails anyway.
    missing = [m for m in ("order_service", "payment_service") if find_spec(m) is None]
    if missing:
        raise CliError(
            f"orderflow {command} needs the services' code ({', '.join(missing)} missing): "
            "pip install 'orderflow-cli[services]'"
        )
