"""AUTH_MODE and JWT_* settings: fail fast on a half-configured mode, secrets from env or a file,
and a verifier that answers any string with a principal or a refusal, never a crash."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from order_service.auth import InvalidTokenError, JwtSettings, Principal, secret_verifier
from order_service.auth.principal import scopes_of
from order_service.settings import Settings

SECRET = "a-local-secret-that-is-long-enough-0123"
EXAMPLES = settings(
    database=None, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(autouse=True)
def no_auth_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AUTH_MODE", "JWT_JWKS_URL", "JWT_SECRET", "JWT_SECRET_FILE", "JWT_ISSUER",
                 "JWT_AUDIENCE", "JWT_LEEWAY_S", "JWT_JWKS_CACHE_S"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no developer's .env


def jwt_settings(**values: Any) -> JwtSettings:
    return JwtSettings(_env_file=None, **values)


def test_the_default_is_none_and_needs_nothing() -> None:
    assert jwt_settings().auth_mode == "none"
    assert Settings(_env_file=None).auth_mode == "none"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth_mode": "jwt"}, "exactly one key source"),
        (
            {"auth_mode": "jwt", "jwt_secret": SECRET, "jwt_jwks_url": "https://idp.test/jwks"},
            "exactly one key source",
        ),
        ({"auth_mode": "jwt", "jwt_secret": "short"}, "at least 32 bytes"),
        ({"auth_mode": "jwt", "jwt_jwks_url": "https://idp.test/jwks"}, "JWT_ISSUER"),
        (
            {
                "auth_mode": "jwt",
                "jwt_jwks_url": "http://idp.example.com/jwks",
                "jwt_issuer": "i",
                "jwt_audience": "a",
            },
            "https://",
        ),
        ({"auth_mode": "jwt", "jwt_secret": SECRET, "jwt_leeway_s": 3600}, "less than or equal"),
        ({"auth_mode": "basic"}, "'none' or 'jwt'"),
        ({"jwt_secret": SECRET, "jwt_secret_file": "/run/secrets/x"}, "not both"),
        ({"auth_mode": "jwt", "jwt_secret_file": "/nonexistent/secret"}, "cannot be read"),
    ],
)
def test_a_half_configured_mode_fails_at_start_up(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        jwt_settings(**values)
    assert message in str(caught.value)


def test_the_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "jwt")
    monkeypatch.setenv("JWT_JWKS_URL", "http://127.0.0.1:9/jwks.json")  # loopback may be http
    monkeypatch.setenv("JWT_ISSUER", "https://idp.test")
    monkeypatch.setenv("JWT_AUDIENCE", "orderflow-api")
    monkeypatch.setenv("JWT_LEEWAY_S", "5")
    loaded = Settings(_env_file=None)
    assert (loaded.auth_mode, loaded.jwt_leeway_s) == ("jwt", 5)
    assert loaded.secret() is None


def test_empty_variables_are_unset_as_in_env_example(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_JWKS_URL", "JWT_SECRET", "JWT_SECRET_FILE", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.setenv(name, "")
    loaded = Settings(_env_file=None)
    assert loaded.jwt_jwks_url is None
    assert loaded.secret() is None
    assert loaded.jwt_issuer is None


def test_the_secret_comes_from_a_mounted_file_without_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "jwt_secret"
    path.write_text(SECRET + "\n")
    loaded = jwt_settings(auth_mode="jwt", jwt_secret_file=str(path))
    secret = loaded.secret()
    assert secret is not None
    assert secret.get_secret_value() == SECRET


def test_the_secret_never_shows_in_the_settings_repr_or_dump() -> None:
    loaded = Settings(_env_file=None, auth_mode="jwt", jwt_secret=SECRET)
    assert SECRET not in repr(loaded)
    assert SECRET not in str(loaded.model_dump())
    assert SECRET not in loaded.model_dump_json()


def test_scopes_come_from_a_scope_string_or_an_scp_list() -> None:
    assert scopes_of({"scope": "openid  orders:admin"}) == {"openid", "orders:admin"}
    assert scopes_of({"scp": ["orders:admin", 7]}) == {"orders:admin"}
    assert scopes_of({"scp": "a b"}) == {"a", "b"}
    assert scopes_of({"scope": ["not", "a", "string"]}) == frozenset()
    assert Principal("u", frozenset({"orders:admin"})).may_read("someone-else")
    assert not Principal("u").may_read("someone-else")


VERIFIER = secret_verifier(SECRET, issuer="iss", audience="aud", leeway_s=0)
SEEN: dict[str, int] = {"text": 0, "jwt-shaped": 0, "signed": 0, "accepted": 0}


async def verify_or_refuse(token: str) -> Principal | str:
    """A principal or our own refusal: any other exception fails the property."""
    try:
        return await VERIFIER.verify(token)
    except InvalidTokenError as exc:
        return exc.description


@EXAMPLES
@given(st.text(max_size=400))
async def test_any_text_as_a_token_is_verified_or_refused(token: str) -> None:
    SEEN["text"] += 1
    assert isinstance(await verify_or_refuse(token), str)


def b64json(value: object) -> str:
    return jwt.utils.base64url_encode(json.dumps(value).encode()).decode()


def signed(claims: dict[str, Any]) -> str:
    """HS256 with the service's secret, whatever the claims (PyJWT's encode checks some)."""
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT'})}.{b64json(claims)}"
    mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{jwt.utils.base64url_encode(mac).decode()}"


segments = st.binary(max_size=120).map(lambda b: jwt.utils.base64url_encode(b).decode())
json_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.lists(st.text(max_size=5), max_size=3)
)
json_objects = st.dictionaries(
    st.sampled_from(["alg", "typ", "kid", "sub", "exp", "iss", "aud", "nbf", "iat", "scope"])
    | st.text(max_size=5),
    json_values,
    max_size=8,
)


def often(valid: Any) -> st.SearchStrategy[Any]:
    """`valid` half of the time, any JSON value otherwise."""
    return st.booleans().flatmap(lambda ok: st.just(valid) if ok else json_values)


# Claims that are often, but not always, what a valid token holds: some get through.
claim_sets = st.fixed_dictionaries(
    {
        "sub": often("alice"),
        "iss": often("iss"),
        "aud": often(["aud", "other"]),
        "exp": often(4_102_444_800),
    },
    optional={
        "nbf": json_values,
        "iat": json_values,
        "scope": often("orders:admin"),
        "scp": json_values,
    },
)


@EXAMPLES
@given(json_objects, json_objects, segments)
async def test_any_jwt_shaped_token_is_verified_or_refused(
    header: dict[str, Any], claims: dict[str, Any], signature: str
) -> None:
    SEEN["jwt-shaped"] += 1
    token = f"{b64json(header)}.{b64json(claims)}.{signature}"
    assert isinstance(await verify_or_refuse(token), str)


@EXAMPLES
@given(claim_sets)
async def test_any_claims_signed_with_the_secret_are_verified_or_refused(
    claims: dict[str, Any],
) -> None:
    SEEN["signed"] += 1
    outcome = await verify_or_refuse(signed(claims))
    if isinstance(outcome, Principal):
        # Only what a valid token carries gets through.
        assert claims["iss"] == "iss"
        assert "aud" in claims["aud"]  # a string or a list holding it
        assert claims["exp"] > time.time()
        assert outcome.subject == claims["sub"]
        SEEN["accepted"] += 1


def test_the_verifier_properties_ran_their_examples(capsys: pytest.CaptureFixture[str]) -> None:
    # Runs after the properties in this module (pytest keeps file order).
    with capsys.disabled():
        print(f"\n[token verifier] hypothesis examples: {SEEN}")
    assert min(SEEN.values()) >= 1, SEEN
    assert min(SEEN["text"], SEEN["jwt-shaped"], SEEN["signed"]) >= 100, SEEN
