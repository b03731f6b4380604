"""`orderflow token`: mint a local HS256 bearer token for trying the API with AUTH_MODE=jwt.

It signs with the secret order-service verifies with (JWT_SECRET, or the file JWT_SECRET_FILE
names) and carries JWT_ISSUER / JWT_AUDIENCE when they are set, so the token is exactly what the
service accepts. Tokens from a real identity provider (JWT_JWKS_URL) come from that provider.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import jwt
from pydantic import ValidationError

from order_service.auth.settings import JwtSettings
from orderflow_cli.errors import CliError
from orderflow_servicekit.settings import settings_error

MAX_TTL_S: Final = 7 * 24 * 3600
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_ttl(text: str) -> int:
    """`90`, `90s`, `30m`, `1h` or `1d` in seconds; between 1 s and 7 days."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 30m, 1h, 1d)")
    seconds = int(match[1]) * _UNIT_S[match[2]]
    if not 1 <= seconds <= MAX_TTL_S:
        raise ValueError(f"the lifetime must be between 1 s and 7 days, not {text}")
    return seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRequest:
    """user: the token's subject (`sub`). scopes: granted scopes (e.g. orders:admin).
    ttl_s: lifetime in seconds."""

    user: str
    scopes: Sequence[str] = ()
    ttl_s: int = 3600


def mint_token(
    request: TokenRequest,
    *,
    secret: str,
    issuer: str | None = None,
    audience: str | None = None,
    now: float | None = None,
) -> str:
    """An HS256 JWT with `sub`, `iat`, `exp`, `jti`, and `scope`, `iss`, `aud` when given."""
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": request.user,
        "iat": issued_at,
        "exp": issued_at + request.ttl_s,
        "jti": str(uuid.uuid4()),
    }
    if request.scopes:
        claims["scope"] = " ".join(request.scopes)
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def load_jwt_settings() -> JwtSettings:
    try:
        return JwtSettings()
    except ValidationError as exc:
        raise CliError(f"invalid settings: {settings_error(exc)}") from exc


def run_token(request: TokenRequest) -> int:
    """The command: print the token (and nothing else) on stdout."""
    if not request.user or len(request.user) > 128:
        raise CliError("--user must be 1 to 128 characters (it becomes the orders' userId)")
    settings = load_jwt_settings()
    secret = settings.secret()
    if secret is None:
        where = (
            " (JWT_JWKS_URL is set: get tokens from that identity provider instead)"
            if settings.jwt_jwks_url
            else ""
        )
        raise CliError(
            "no JWT secret: set JWT_SECRET (at least 32 bytes) or JWT_SECRET_FILE to the secret "
            f"order-service verifies tokens with{where}"
        )
    token = mint_token(
        request,
        secret=secret.get_secret_value(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    print(token, flush=True)
    return 0
