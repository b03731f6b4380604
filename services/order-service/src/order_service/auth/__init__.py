"""Authentication and authorization of the order API.

`AUTH_MODE=none` (the default for `make run`) lets anyone who reaches the port call the API;
`AUTH_MODE=jwt` requires an OAuth 2.0 bearer JWT, verified with PyJWT against an identity
provider's JWKS (RS256/ES256) or a local HS256 secret. A caller creates orders only for its own
subject and reads only its own orders, unless its token has the scope `orders:admin`.
"""

from __future__ import annotations

import logging

from order_service.auth.deps import PrincipalDep, bearer, current_principal, forbidden
from order_service.auth.jwks import JwksCache, KeysUnavailableError
from order_service.auth.principal import ADMIN_SCOPE, Principal, scopes_of
from order_service.auth.settings import AuthMode, JwtSettings
from order_service.auth.verifier import (
    Authenticator,
    InvalidTokenError,
    JwtVerifier,
    jwks_verifier,
    secret_verifier,
)

logger = logging.getLogger("orderflow.auth")

__all__ = [
    "ADMIN_SCOPE",
    "AuthMode",
    "Authenticator",
    "InvalidTokenError",
    "JwksCache",
    "JwtSettings",
    "JwtVerifier",
    "KeysUnavailableError",
    "Principal",
    "PrincipalDep",
    "bearer",
    "build_authenticator",
    "current_principal",
    "forbidden",
    "jwks_verifier",
    "scopes_of",
    "secret_verifier",
]


def build_authenticator(settings: JwtSettings) -> Authenticator | None:
    """The verifier AUTH_MODE asks for (None for `none`), and a start-up line saying which."""
    if settings.auth_mode == "none":
        logger.warning(
            "AUTH_MODE=none: the order API is open to anyone who can reach it "
            "(set AUTH_MODE=jwt to require bearer tokens)"
        )
        return None
    checks = f"issuer {settings.jwt_issuer or '(any)'}, audience {settings.jwt_audience or '(any)'}"
    if settings.jwt_jwks_url is not None:
        if settings.jwt_issuer is None or settings.jwt_audience is None:
            raise ValueError("JWT_JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE")
        logger.info(
            "AUTH_MODE=jwt: RS256/ES256 tokens, keys from %s; %s", settings.jwt_jwks_url, checks
        )
        return jwks_verifier(
            JwksCache(settings.jwt_jwks_url, ttl_s=settings.jwt_jwks_cache_s),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_s=settings.jwt_leeway_s,
        )
    secret = settings.secret()
    if secret is None:
        raise ValueError("AUTH_MODE=jwt needs JWT_JWKS_URL, JWT_SECRET or JWT_SECRET_FILE")
    logger.info("AUTH_MODE=jwt: HS256 tokens signed with the configured secret; %s", checks)
    return secret_verifier(
        secret.get_secret_value(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_s=settings.jwt_leeway_s,
    )
