"""Tokens from an identity provider: RS256/ES256 keys from its JWKS, cached, refreshed on rotation.

A real HTTP server on a loopback port plays the provider's JWKS endpoint and counts its fetches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from order_service.auth import InvalidTokenError, JwksCache, KeysUnavailableError, jwks_verifier
from order_service.testing import RunningOrderService, order_settings, running_order_service
from orderflow_messaging import SqsClientOptions
from orderflow_testkit.waiting import free_port

ISSUER = "https://idp.test/realms/orderflow"
AUDIENCE = "orderflow-api"


class SigningKey:
    def __init__(self, kid: str, algorithm: str) -> None:
        self.kid = kid
        self.algorithm = algorithm
        self.private: Any = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if algorithm == "RS256"
            else ec.generate_private_key(ec.SECP256R1())
        )

    def jwk(self) -> dict[str, Any]:
        codec = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        jwk: dict[str, Any] = json.loads(codec.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def sign(self, sub: str = "alice", **claims: Any) -> str:
        now = int(time.time())
        payload = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
        payload.update(claims)
        return jwt.encode(
            payload, self.private, algorithm=self.algorithm, headers={"kid": self.kid}
        )


class JwksServer:
    """Serves `keys` as a JWKS at /jwks.json; `fetches` counts the requests; `down` answers 503."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = []
        self.fetches = 0
        self.down = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if server.down:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": [k.jwk() for k in server.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/jwks.json"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def idp() -> Iterator[JwksServer]:
    with JwksServer() as server:
        server.keys = [SigningKey("rsa-1", "RS256"), SigningKey("ec-1", "ES256")]
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier_for(idp: JwksServer, clock: Clock | None = None) -> tuple[Any, JwksCache]:
    cache = JwksCache(idp.url, ttl_s=600, min_refresh_s=30, retry_s=5, clock=clock or Clock())
    return jwks_verifier(cache, issuer=ISSUER, audience=AUDIENCE, leeway_s=30), cache


async def refused(verifier: Any, token: str) -> str:
    with pytest.raises(InvalidTokenError) as caught:
        await verifier.verify(token)
    return caught.value.description


@pytest.mark.parametrize("index", [0, 1], ids=["RS256", "ES256"])
async def test_rs256_and_es256_tokens_verify_with_the_providers_keys(
    idp: JwksServer, index: int
) -> None:
    verifier, _ = verifier_for(idp)
    principal = await verifier.verify(idp.keys[index].sign("alice", scope="orders:admin"))
    assert principal.subject == "alice"
    assert principal.is_admin


async def test_keys_are_fetched_once_then_served_from_the_cache_until_the_ttl(
    idp: JwksServer,
) -> None:
    clock = Clock()
    verifier, cache = verifier_for(idp, clock)
    for _ in range(20):
        await verifier.verify(idp.keys[0].sign())
    assert idp.fetches == 1

    clock.now += 601
    await verifier.verify(idp.keys[1].sign())
    assert idp.fetches == 2
    assert cache.fetches == 2


async def test_a_rotated_key_is_found_by_refreshing_on_its_unknown_kid(idp: JwksServer) -> None:
    clock = Clock()
    verifier, _ = verifier_for(idp, clock)
    await verifier.verify(idp.keys[0].sign())
    rotated = SigningKey("rsa-2", "RS256")
    idp.keys.append(rotated)

    clock.now += 31  # past the least interval between refreshes
    principal = await verifier.verify(rotated.sign("bob"))

    assert principal.subject == "bob"
    assert idp.fetches == 2


async def test_made_up_kids_cause_at_most_one_refresh_per_interval(idp: JwksServer) -> None:
    clock = Clock()
    verifier, _ = verifier_for(idp, clock)
    await verifier.verify(idp.keys[0].sign())
    stranger = SigningKey("who-knows", "RS256")

    clock.now += 31
    reasons = [await refused(verifier, stranger.sign()) for _ in range(25)]

    assert set(reasons) == {"the token was signed with an unknown key"}
    assert idp.fetches == 2  # the first, then one refresh for all 25


async def test_an_unreachable_provider_keeps_the_keys_already_fetched(idp: JwksServer) -> None:
    clock = Clock()
    verifier, _ = verifier_for(idp, clock)
    await verifier.verify(idp.keys[0].sign())
    idp.down = True
    clock.now += 601

    principal = await verifier.verify(idp.keys[0].sign())
    assert principal.subject == "alice"
    # A failed fetch is retried after the retry interval, not on every request.
    await verifier.verify(idp.keys[0].sign())
    assert idp.fetches == 2


async def test_no_keys_at_all_is_keys_unavailable_not_a_verdict_on_the_token(
    idp: JwksServer,
) -> None:
    idp.down = True
    verifier, _ = verifier_for(idp)
    with pytest.raises(KeysUnavailableError):
        await verifier.verify(idp.keys[0].sign())


async def test_algorithm_confusion_and_unsigned_tokens_are_refused(idp: JwksServer) -> None:
    verifier, _ = verifier_for(idp)
    public_pem = (
        idp.keys[0]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300}
    # HS256 keyed with the provider's public key: the classic RS256 → HS256 confusion.
    # (PyJWT refuses to sign that, so it is put together by hand.)
    hmac_with_public_key = _hs256_with_raw_key(claims, public_pem, "rsa-1")
    # ES256 header on the RSA key's kid: the key decides the algorithm, not the token.
    mismatched = jwt.encode(
        claims, idp.keys[1].private, algorithm="ES256", headers={"kid": "rsa-1"}
    )

    assert "algorithm" in await refused(verifier, hmac_with_public_key)
    assert "algorithm" in await refused(verifier, mismatched)
    assert "kid" in await refused(verifier, jwt.encode(claims, idp.keys[0].private, "RS256"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_raw_key(claims: dict[str, Any], key: bytes, kid: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture
async def secured_by_idp(
    idp: JwksServer, tmp_path: Path, sqs_options: SqsClientOptions, queue_prefix: str
) -> AsyncIterator[RunningOrderService]:
    settings = order_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}",
        sqs_options,
        queue_prefix,
        auth_mode="jwt",
        jwt_jwks_url=idp.url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
    async with running_order_service(settings) as service:
        yield service


async def test_the_api_accepts_the_providers_tokens(
    idp: JwksServer, secured_by_idp: RunningOrderService
) -> None:
    created = await secured_by_idp.http.post(
        "/orders",
        json={"total": 9},
        headers={"Authorization": f"Bearer {idp.keys[1].sign('carol')}"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["userId"] == "carol"
    listed = await secured_by_idp.http.get(
        "/orders", headers={"Authorization": f"Bearer {idp.keys[0].sign('carol')}"}
    )
    assert [o["id"] for o in listed.json()["items"]] == [created.json()["id"]]
    assert idp.fetches == 1


async def test_the_api_answers_503_while_the_provider_never_gave_it_keys(
    idp: JwksServer, secured_by_idp: RunningOrderService
) -> None:
    idp.down = True
    reply = await secured_by_idp.http.get(
        "/orders", headers={"Authorization": f"Bearer {idp.keys[0].sign()}"}
    )
    assert reply.status_code == 503
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.headers["retry-after"] == "5"
