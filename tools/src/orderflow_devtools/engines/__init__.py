"""SQS engines `orderflow up` and `orderflow bench` can start: moto (default) or fauxqs.

fauxqs is a Node.js program: on first use it is installed, pinned, with a Node.js of its own,
from the npm registry into the user's cache folder (never the repository), then started from a
small launcher that keeps it on 127.0.0.1.
"""

from __future__ import annotations

# What a failed install raises: the CLI's one-line error, named here so that libraries using the
# installer (the test kit) need not import the CLI.
from orderflow_cli.errors import CliError as InstallFailed
from orderflow_devtools.engines.nodejs import (
    FAUXQS_VERSION,
    NODE_PACKAGE,
    FauxqsInstall,
    cache_dir,
    ensure_fauxqs,
    fauxqs_argv,
)

ENGINES = ("moto", "fauxqs")
DEFAULT_ENGINE = "moto"

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "FAUXQS_VERSION",
    "NODE_PACKAGE",
    "FauxqsInstall",
    "InstallFailed",
    "cache_dir",
    "ensure_fauxqs",
    "fauxqs_argv",
]
