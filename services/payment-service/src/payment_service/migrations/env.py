"""Alembic environment: online migrations of payment-service's metadata over the async engine."""

from __future__ import annotations

from orderflow_servicekit import run_env
from payment_service.db.tables import metadata

run_env(metadata)
