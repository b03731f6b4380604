"""Verifying bearer tokens with PyJWT: signature, algorithm, expiry, issuer, audience.

No cryptography of our own: PyJWT checks the signature with the key our side chose (never one
the token names by itself), against a fixed list of algorithms per key source, so neither
`alg: none` nor an RS256/HS256 confusion can get through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

import jwt
from jwt import PyJWK
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from order_service.auth.jwks import JwksCache
from order_service.auth.principal import Principal, scopes_of

MAX_TOKEN_CHARS: Final = 8192
"""Longer bearer tokens are refused before any parsing (real ones are one or two kB)."""

MAX_SUBJECT_CHARS: Final = 128
"""A subject becomes an order's `userId`, which holds at most 128 characters."""

ASYMMETRIC_ALGORITHMS: Final = ("RS256", "ES256")
SYMMETRIC_ALGORITHMS: Final = ("HS256",)

Key = PyJWK | str
KeyResolver = Callable[[dict[str, Any]], Awaitable[Key]]


class InvalidTokenError(Exception):
    """The bearer token cannot be accepted; `description` says why, without quoting the token."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class Authenticator(Protocol):
    async def verify(self, token: str) -> Principal: ...


# The most specific class first: several of them subclass DecodeError / InvalidTokenError.
_REASONS: Final[tuple[tuple[type[PyJWTError], str], ...]] = (
    (ExpiredSignatureError, "the token has expired"),
    (ImmatureSignatureError, "the token is not valid yet"),
    (InvalidIssuedAtError, "the token's issue time is in the future"),
    (InvalidIssuerError, "the token was issued by another issuer"),
    (InvalidAudienceError, "the token is meant for another audience"),
    (InvalidAlgorithmError, "the token's signing algorithm is not accepted"),
    (InvalidSignatureError, "the token's signature does not verify"),
)


def _reason(exc: PyJWTError) -> str:
    if isinstance(exc, MissingRequiredClaimError):
        return f"the token has no {exc.claim!r} claim"
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "the token is malformed"


class JwtVerifier:
    """Turns a bearer token into a `Principal`, or raises `InvalidTokenError`.

    resolve_key: the verification key for a token's (unverified) header.
    algorithms: the only algorithms accepted, fixed by the key source.
    issuer / audience: the `iss` and `aud` required (None: not checked).
    leeway_s: clock skew allowed on `exp`, `nbf` and `iat`.
    """

    def __init__(
        self,
        resolve_key: KeyResolver,
        *,
        algorithms: tuple[str, ...],
        issuer: str | None,
        audience: str | None,
        leeway_s: float,
    ) -> None:
        self._resolve_key = resolve_key
        self._algorithms = list(algorithms)
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._required = ["exp", "sub"]
        if issuer is not None:
            self._required.append("iss")
        if audience is not None:
            self._required.append("aud")

    async def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidTokenError("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise InvalidTokenError("the token is malformed") from None
        key = await self._resolve_key(header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_s,
                options={"require": self._required},
            )
        except PyJWTError as exc:
            raise InvalidTokenError(_reason(exc)) from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_SUBJECT_CHARS:
            raise InvalidTokenError(
                f"the token's subject must be a string of 1 to {MAX_SUBJECT_CHARS} characters"
            )
        return Principal(subject=subject, scopes=scopes_of(claims))


def secret_verifier(
    secret: str, *, issuer: str | None, audience: str | None, leeway_s: float
) -> JwtVerifier:
    """HS256 with a shared secret: for local use and tests (`orderflow token` mints them)."""

    async def resolve(_header: dict[str, Any]) -> Key:
        return secret

    return JwtVerifier(
        resolve,
        algorithms=SYMMETRIC_ALGORITHMS,
        issuer=issuer,
        audience=audience,
        leeway_s=leeway_s,
    )


def jwks_verifier(keys: JwksCache, *, issuer: str, audience: str, leeway_s: float) -> JwtVerifier:
    """RS256/ES256 with an identity provider's published keys, chosen by the token's `kid`."""

    async def resolve(header: dict[str, Any]) -> Key:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("the token names no signing key (kid)")
        key = await keys.key(kid)
        if key is None:
            raise InvalidTokenError("the token was signed with an unknown key")
        return key

    return JwtVerifier(
        resolve,
        algorithms=ASYMMETRIC_ALGORITHMS,
        issuer=issuer,
        audience=audience,
        leeway_s=leeway_s,
    )
