"""Fuzzed boundaries: schemathesis sends generated requests, valid and invalid, to every
operation of `/openapi.json`, with a bearer token, to the real app (AUTH_MODE=jwt) in-process.

No answer may be a 5xx, and every answer must match its declared status codes, content types,
headers and schema. The number of requests per operation is printed.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from order_service.main import create_app
from order_service.settings import Settings

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Any]

SECRET = "schemathesis-secret-for-order-service-0123456789"
EXAMPLES_PER_MODE = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Not negative_data_rejection: every request carries the token even when the generated case meant
# to leave it out, and unknown query parameters are ignored (as HTTP APIs usually do).


# Whose token a request carries: the body's own userId (so generated orders can succeed), a
# fixed user (403 for others' orders), or an orders:admin.
callers = st.sampled_from(["owner", "user", "admin"])


def token_for(case: Case, who: str) -> str:
    if who == "admin":
        return token("ops", "orders:admin")
    body = case.body if isinstance(case.body, dict) else {}
    user = body.get("userId")
    if who == "owner" and isinstance(user, str) and 1 <= len(user) <= 128:
        return token(user)
    return token("fuzzer")


def token(sub: str, scope: str | None = None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iss": "fuzz", "aud": "orderflow", "iat": now}
    claims["exp"] = now + 3600
    if scope:
        claims["scope"] = scope
    return jwt.encode(claims, SECRET, algorithm="HS256")


def fuzz(
    operation: Operation,
    mode: schemathesis.GenerationMode,
    statuses: Counter[int],
) -> int:
    """Run `operation` with generated requests; return how many were sent."""
    sent = 0

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), who=callers)
    def run(case: Case, who: str) -> None:
        nonlocal sent
        sent += 1
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {token_for(case, who)}"}, checks=CHECKS
        )
        statuses[response.status_code] += 1

    try:
        run()
    except Unsatisfiable:
        # Nothing in the operation can be invalid (no inputs, or one unconstrained path string).
        if mode is schemathesis.GenerationMode.POSITIVE:
            raise
    return sent


def test_every_operation_answers_fuzzed_requests_without_5xx_and_as_documented(
    tmp_path: Path,
    moto_endpoint: str,
    queue_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = create_app(
        Settings(
            _env_file=None,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}",
            sqs_endpoint=moto_endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            orders_queue=f"{queue_prefix}orders",
            payment_results_queue=f"{queue_prefix}payment-results",
            shutdown_grace_s=1,
            auth_mode="jwt",
            jwt_secret=SECRET,
            jwt_issuer="fuzz",
            jwt_audience="orderflow",
        )
    )
    ran: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan
        # Every request carries a valid token (the 401 paths have tests of their own).
        schema.config.generation.update(with_security_parameters=False)
        operations = [op.ok() for op in schema.get_all_operations() if isinstance(op, Ok)]
        assert len(operations) == len(list(schema.get_all_operations())), "schema errors"
        for operation in operations:
            for mode in schemathesis.GenerationMode:
                ran[operation.label] += fuzz(operation, mode, statuses)
    finally:
        asgi.shutdown_lifespans()

    summary = ", ".join(f"{label}: {n}" for label, n in sorted(ran.items()))
    line = f"schemathesis: {sum(ran.values())} requests over {len(ran)} operations ({summary})"
    with capsys.disabled():
        print(f"\n[{line}; answers by status: {dict(sorted(statuses.items()))}]")
    labels = {operation.label for operation in operations}
    assert {"POST /orders", "GET /orders", "GET /orders/{order_id}"} <= labels
    assert set(ran) == labels
    assert sum(ran.values()) >= 200, line
