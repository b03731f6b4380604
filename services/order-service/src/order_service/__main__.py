"""`python -m order_service`: run the order API until SIGTERM or Ctrl-C (exit 0), or exit 1 with
one line on stderr when it cannot start."""

from __future__ import annotations

import sys

from order_service.main import SERVICE, create_app
from order_service.settings import Settings
from orderflow_servicekit import serve

if __name__ == "__main__":
    sys.exit(serve(SERVICE, Settings, create_app))
