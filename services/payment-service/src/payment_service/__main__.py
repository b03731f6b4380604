"""`python -m payment_service`: run the worker and its ops port until SIGTERM or Ctrl-C (exit 0),
or exit 1 with one line on stderr when it cannot start."""

from __future__ import annotations

import sys

from orderflow_servicekit import serve
from payment_service.main import SERVICE, create_app
from payment_service.settings import Settings

if __name__ == "__main__":
    sys.exit(serve(SERVICE, Settings, create_app))
