# orderflow: `make run` starts the whole system, `make test` runs the whole suite.
SHELL := /bin/bash
# uv from PATH, else the one pip installs (`python3 -m uv` works wherever pip put it).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: run test test-fauxqs lint format sync uv schemas bench

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

sync: uv
	@$(UV) sync --locked

run: sync
	$(UV) run orderflow up

test: sync
	$(UV) run pytest

# The suite on fauxqs (installed with npm into ~/.cache/orderflow on first use); what fauxqs lacks
# skips with the reason. TEST_ARGS narrows it, e.g. TEST_ARGS='libs/messaging -m "not chaos"'.
test-fauxqs: sync
	ORDERFLOW_TEST_ENGINE=fauxqs $(UV) run pytest $(TEST_ARGS)

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

format: sync
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

schemas: sync
	$(UV) run python -m orderflow_contracts._schemas

# The seed baseline, fauxqs and Node.js are fetched and built into ~/.cache/orderflow on first use.
# BENCH_ARGS="--quick" for a smoke run, "--engine moto" for the other engine.
bench: sync
	$(UV) run orderflow bench $(BENCH_ARGS)
