"""`python -m orderflow_cli`: the same as the `orderflow` script."""

from __future__ import annotations

from orderflow_cli.main import main

main()
