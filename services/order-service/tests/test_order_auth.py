"""AUTH_MODE=jwt over HTTP: who may create, read and list which orders, and how refusals look.

The app runs in-process with its real runtime (moto, SQLite) and a local HS256 secret; tokens
are minted here with PyJWT, the way `orderflow token` or an identity provider would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from order_service.testing import RunningOrderService, order_settings, running_order_service
from orderflow_messaging import SqsClientOptions

SECRET = "test-secret-for-order-service-auth-0123456789"
ISSUER = "https://issuer.test/orderflow"
AUDIENCE = "orderflow-api"
JSON = {"Content-Type": "application/json"}


def mint(
    sub: str | None = "alice",
    *,
    scope: str | None = None,
    key: Any = SECRET,
    algorithm: str = "HS256",
    ttl_s: int = 300,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl_s}
    if sub is not None:
        payload["sub"] = sub
    if scope is not None:
        payload["scope"] = scope
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def secured(
    tmp_path: Path, sqs_options: SqsClientOptions, queue_prefix: str
) -> AsyncIterator[RunningOrderService]:
    settings = order_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}",
        sqs_options,
        queue_prefix,
        auth_mode="jwt",
        jwt_secret=SECRET,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_leeway_s=30,
    )
    async with running_order_service(settings) as service:
        yield service


async def place(service: RunningOrderService, token: str, body: dict[str, Any]) -> str:
    reply = await service.http.post("/orders", json=body, headers=bearer(token))
    assert reply.status_code == 201, reply.text
    order_id: str = reply.json()["id"]
    return order_id


def assert_problem(reply: Any, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = reply.json()
    assert problem["status"] == status
    return problem


def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _unsigned(payload: str) -> str:
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(payload.encode()).decode()
    return f"{header}.{body}."


REFUSED_TOKENS = [
    ("malformed", lambda: "not-a-jwt", "malformed"),
    ("three garbage parts", lambda: "abc.def.ghi", "malformed"),
    ("bad signature", lambda: mint(key="another-secret-of-at-least-32-bytes!!"), "signature"),
    ("expired beyond the leeway", lambda: mint(ttl_s=-120), "expired"),
    ("wrong issuer", lambda: mint(iss="https://evil.test/"), "issuer"),
    ("wrong audience", lambda: mint(aud="another-api"), "audience"),
    ("no exp", lambda: mint(exp=None), "'exp'"),
    ("no sub", lambda: mint(sub=None), "'sub'"),
    ("not valid yet", lambda: mint(nbf=int(time.time()) + 600), "not valid yet"),
    (
        "alg none",
        lambda: _unsigned(
            f'{{"sub":"alice","iss":"{ISSUER}","aud":"{AUDIENCE}","exp":9999999999}}'
        ),
        "algorithm",
    ),
    (
        "RS256 where HS256 is configured",
        lambda: mint(key=rsa_private_key(), algorithm="RS256"),
        "algorithm",
    ),
    ("a 200-character subject", lambda: mint(sub="x" * 200), "subject"),
    ("10 kB token", lambda: "a" * 10_000, "too long"),
]


async def test_no_token_is_401_with_a_bearer_challenge_and_no_error_code(
    secured: RunningOrderService,
) -> None:
    for method, path in (("GET", "/orders"), ("GET", "/orders/x"), ("POST", "/orders")):
        reply = await secured.http.request(method, path, json={"total": 1})
        problem = assert_problem(reply, 401)
        assert reply.headers["www-authenticate"] == 'Bearer realm="orderflow"', path
        assert "Authorization: Bearer" in problem["detail"]
    assert await secured.row_counts() == (0, 0)


async def test_another_scheme_than_bearer_is_401(secured: RunningOrderService) -> None:
    reply = await secured.http.get("/orders", headers={"Authorization": "Basic YWxpY2U6cHc="})
    assert_problem(reply, 401)
    assert reply.headers["www-authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("case", "make", "reason"), REFUSED_TOKENS, ids=[c[0] for c in REFUSED_TOKENS]
)
async def test_a_bad_token_is_401_invalid_token_and_writes_nothing(
    secured: RunningOrderService, case: str, make: Any, reason: str
) -> None:
    token = make()
    listed = await secured.http.get("/orders", headers=bearer(token))
    created = await secured.http.post(
        "/orders", json={"userId": "alice", "total": 1}, headers=bearer(token)
    )

    for reply in (listed, created):
        problem = assert_problem(reply, 401)
        challenge = reply.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="orderflow", error="invalid_token"'), case
        assert reason in challenge, challenge
        assert reason in problem["detail"]
        assert token not in reply.text
    assert await secured.row_counts() == (0, 0)


async def test_an_expired_token_within_the_leeway_is_still_accepted(
    secured: RunningOrderService,
) -> None:
    reply = await secured.http.get("/orders", headers=bearer(mint(ttl_s=-10)))
    assert reply.status_code == 200, reply.text


async def test_a_caller_creates_orders_for_itself_only(secured: RunningOrderService) -> None:
    alice = mint("alice")

    implicit = await secured.http.post("/orders", json={"total": 5}, headers=bearer(alice))
    explicit = await secured.http.post(
        "/orders", json={"userId": "alice", "total": 6}, headers=bearer(alice)
    )
    for_bob = await secured.http.post(
        "/orders", json={"userId": "bob", "total": 7}, headers=bearer(alice)
    )
    admin_for_bob = await secured.http.post(
        "/orders",
        json={"userId": "bob", "total": 8},
        headers=bearer(mint("root", scope="orders:admin")),
    )

    assert implicit.status_code == 201, implicit.text
    assert implicit.json()["userId"] == "alice"
    assert explicit.status_code == 201
    assert explicit.json()["userId"] == "alice"
    assert "only for yourself" in assert_problem(for_bob, 403)["detail"]
    assert_problem(admin_for_bob, 403)
    assert await secured.row_counts() == (2, 2)


async def test_a_caller_reads_its_own_orders_and_gets_403_for_another_users(
    secured: RunningOrderService,
) -> None:
    alice, bob = mint("alice"), mint("bob")
    alices = await place(secured, alice, {"total": 1})
    bobs = await place(secured, bob, {"total": 2})

    own = await secured.http.get(f"/orders/{alices}", headers=bearer(alice))
    other = await secured.http.get(f"/orders/{bobs}", headers=bearer(alice))
    missing = await secured.http.get(
        "/orders/01a2183d-e978-72b6-a866-5179a175ae1d", headers=bearer(alice)
    )

    assert own.status_code == 200
    assert own.json()["userId"] == "alice"
    assert "another user" in assert_problem(other, 403)["detail"]
    assert "orders:admin" in other.headers["www-authenticate"]
    assert "bob" not in other.text  # nothing of the order itself
    assert_problem(missing, 404)


async def test_orders_admin_scope_reads_and_lists_every_users_orders(
    secured: RunningOrderService,
) -> None:
    alices = await place(secured, mint("alice"), {"total": 1})
    bobs = await place(secured, mint("bob"), {"total": 2})
    for admin in (mint("ops", scope="openid orders:admin"), mint("ops", scp=["orders:admin"])):
        one = await secured.http.get(f"/orders/{bobs}", headers=bearer(admin))
        everything = await secured.http.get("/orders", headers=bearer(admin))
        bobs_only = await secured.http.get(
            "/orders", params={"userId": "bob"}, headers=bearer(admin)
        )

        assert one.status_code == 200
        assert one.json()["userId"] == "bob"
        assert [o["id"] for o in everything.json()["items"]] == [bobs, alices]
        assert [o["id"] for o in bobs_only.json()["items"]] == [bobs]


async def test_a_list_holds_only_the_callers_orders_and_another_userid_is_403(
    secured: RunningOrderService,
) -> None:
    alice, bob = mint("alice"), mint("bob")
    alices = await place(secured, alice, {"total": 1})
    await place(secured, bob, {"total": 2})

    mine = await secured.http.get("/orders", headers=bearer(alice))
    explicit = await secured.http.get("/orders", params={"userId": "alice"}, headers=bearer(alice))
    someone_elses = await secured.http.get(
        "/orders", params={"userId": "bob"}, headers=bearer(alice)
    )
    not_admin = await secured.http.get(
        "/orders", params={"userId": "bob"}, headers=bearer(mint("alice", scope="orders:read"))
    )

    assert [o["id"] for o in mine.json()["items"]] == [alices]
    assert explicit.json() == mine.json()
    assert_problem(someone_elses, 403)
    assert_problem(not_admin, 403)


async def test_the_openapi_document_declares_bearer_auth_for_swagger_ui(
    secured: RunningOrderService,
) -> None:
    spec = (await secured.http.get("/openapi.json")).json()

    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    for method, path in (("post", "/orders"), ("get", "/orders"), ("get", "/orders/{order_id}")):
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearer": []}]
        assert {"401", "403"} <= set(operation["responses"])
    assert "security" not in spec["paths"]["/health/ready"]["get"]
    assert "userId" not in spec["components"]["schemas"]["OrderCreate"].get("required", [])
    page = await secured.http.get("/docs")
    assert page.status_code == 200


async def test_health_docs_and_metrics_need_no_token(secured: RunningOrderService) -> None:
    for path in ("/health/live", "/health/ready", "/docs", "/openapi.json", "/metrics/"):
        reply = await secured.http.get(path)
        assert reply.status_code == 200, path


async def test_no_token_secret_or_authorization_header_reaches_any_log_line(
    secured: RunningOrderService, caplog: pytest.LogCaptureFixture
) -> None:
    good = mint("alice", scope="orders:admin")
    bad = mint("alice", key="wrong-secret-wrong-secret-wrong-secret!")
    expired = mint("alice", ttl_s=-3600)
    caplog.set_level(logging.DEBUG)  # every logger, every level

    order_id = await place(secured, good, {"total": 3})
    await secured.http.get(f"/orders/{order_id}", headers=bearer(good))
    await secured.http.get("/orders", headers=bearer(good))
    for token in (bad, expired, "garbage." + good):
        await secured.http.get("/orders", headers=bearer(token))
        await secured.http.post("/orders", json={"total": 1}, headers=bearer(token))
    await secured.http.post("/orders", content="{broken", headers={**JSON, **bearer(good)})

    assert caplog.records, "nothing was logged: the capture is not working"
    logged = "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''} {r.__dict__!r}" for r in caplog.records
    )
    for secret in (good, bad, expired, SECRET, good.split(".")[2]):
        assert secret not in logged
    assert "Bearer " not in logged


async def test_none_mode_is_unchanged_and_warns_at_start_up(
    tmp_path: Path,
    sqs_options: SqsClientOptions,
    queue_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="orderflow.auth")
    settings = order_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'open.db'}", sqs_options, queue_prefix
    )
    assert settings.auth_mode == "none"
    async with running_order_service(settings) as service:
        seed = await service.http.post(
            "/orders", content='{"userId":"dev-user","total":42.00}', headers=JSON
        )
        # A token is neither needed nor checked: it is ignored.
        other = await service.http.get(
            f"/orders/{seed.json()['id']}", headers=bearer("not-even-a-jwt")
        )
        listed = await service.http.get("/orders")
        no_user = await service.http.post("/orders", json={"total": 1})

    assert seed.status_code == 201
    assert seed.json()["userId"] == "dev-user"
    assert other.status_code == 200
    assert len(listed.json()["items"]) == 1
    problem = assert_problem(no_user, 422)
    assert problem["errors"] == [
        {"loc": ["body", "userId"], "msg": "Field required", "type": "missing"}
    ]
    assert any(
        r.levelno == logging.WARNING and "AUTH_MODE=none" in r.getMessage() for r in caplog.records
    )
