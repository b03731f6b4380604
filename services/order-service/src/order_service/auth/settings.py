"""Who may call the order API: the authentication settings, read from the environment.

A mixin of order-service's `Settings` and, on its own, what `orderflow token` reads, so both
find the secret the same way: `JWT_SECRET`, or `JWT_SECRET_FILE` naming a mounted file (a Docker
or Kubernetes secret). Secrets never come from code or images.
"""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from orderflow_servicekit import BlankIsUnset

AuthMode = Literal["none", "jwt"]

MIN_SECRET_BYTES = 32
"""HS256 keys shorter than the hash (256 bits) are guessable offline (RFC 7518 §3.2)."""

MAX_LEEWAY_S = 300


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class JwtSettings(BlankIsUnset):
    """Token verification. Every field is read from the variable of the same name in upper case.

    auth_mode: `none` (default: anyone who reaches the port may call the API) or `jwt` (every
        /orders request needs `Authorization: Bearer <JWT>`).
    jwt_jwks_url: the identity provider's JWKS (RS256/ES256 keys), e.g. Cognito's
        `https://cognito-idp.REGION.amazonaws.com/POOL_ID/.well-known/jwks.json`.
    jwt_secret / jwt_secret_file: an HS256 secret (at least 32 bytes), for local use; the file
        form reads a mounted secret. Exactly one key source with `jwt`.
    jwt_issuer / jwt_audience: the `iss` and `aud` tokens must carry (required with a JWKS URL).
    jwt_leeway_s: the clock skew allowed on `exp`, `nbf` and `iat` (default 30 s, at most 300).
    jwt_jwks_cache_s: how long fetched keys are trusted before they are fetched again (600 s);
        an unknown `kid` refreshes them sooner, at most once every 30 s.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    auth_mode: AuthMode = "none"
    jwt_jwks_url: str | None = None
    jwt_secret: SecretStr | None = None
    jwt_secret_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_s: int = Field(default=30, ge=0, le=MAX_LEEWAY_S)
    jwt_jwks_cache_s: int = Field(default=600, ge=60, le=86_400)

    _secret: SecretStr | None = PrivateAttr(default=None)

    @field_validator("jwt_jwks_url")
    @classmethod
    def _https_jwks(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        # Keys fetched over plain HTTP could be swapped by anyone on the way; loopback is for tests.
        if parts.scheme != "https" and not (
            parts.scheme == "http" and _is_loopback(parts.hostname or "")
        ):
            raise ValueError("JWT_JWKS_URL must be an https:// URL (http:// only on loopback)")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if self.jwt_secret is not None and self.jwt_secret_file is not None:
            raise ValueError("set JWT_SECRET or JWT_SECRET_FILE, not both")
        secret = self.jwt_secret
        if self.jwt_secret_file is not None:
            try:
                text = self.jwt_secret_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"JWT_SECRET_FILE cannot be read: {exc.strerror}") from None
            # Files written by `echo` or editors end with a newline that is not part of the secret.
            secret = SecretStr(text.strip())
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes long")
        self._secret = secret
        if self.auth_mode == "jwt":
            if (secret is None) == (self.jwt_jwks_url is None):
                raise ValueError(
                    "AUTH_MODE=jwt needs exactly one key source: JWT_JWKS_URL (an identity "
                    "provider) or JWT_SECRET / JWT_SECRET_FILE (local HS256)"
                )
            if self.jwt_jwks_url is not None and not (self.jwt_issuer and self.jwt_audience):
                # Without them, a token the provider issued for any other app would be accepted.
                raise ValueError("JWT_JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE")
        return self

    def secret(self) -> SecretStr | None:
        """The HS256 secret, from JWT_SECRET or the file JWT_SECRET_FILE names; None if neither."""
        return self._secret
