"""FastAPI's side of authentication: the bearer security scheme and the caller's `Principal`.

`HTTPBearer` declares the scheme in the OpenAPI document, so Swagger UI's "Authorize" button
takes a pasted token. Errors follow RFC 6750: 401 with a `WWW-Authenticate: Bearer` challenge
(`error="invalid_token"` when a token was sent but is not acceptable), as problem+json.
"""

from __future__ import annotations

import logging
from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from order_service.auth.jwks import KeysUnavailableError
from order_service.auth.principal import ADMIN_SCOPE, Principal
from order_service.auth.verifier import Authenticator, InvalidTokenError
from orderflow_servicekit import ProblemError

logger = logging.getLogger("orderflow.auth")

REALM: Final = "orderflow"

bearer = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A JWT from the identity provider (or `orderflow token` locally). "
    "Required when the service runs with AUTH_MODE=jwt; ignored with AUTH_MODE=none.",
    auto_error=False,
)


def unauthorized(description: str | None) -> ProblemError:
    """401 with the RFC 6750 challenge; `description` (our own words) when a token was sent."""
    if description is None:
        challenge = f'Bearer realm="{REALM}"'
        detail = "This API needs a bearer token: send Authorization: Bearer <JWT>."
    else:
        challenge = (
            f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
        )
        detail = f"The bearer token was refused: {description}."
    return ProblemError(401, detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str, *, admin_would_do: bool) -> ProblemError:
    """403 for a valid token asking for what its subject may not have."""
    headers = {}
    if admin_would_do:
        headers["WWW-Authenticate"] = (
            f'Bearer realm="{REALM}", error="insufficient_scope", scope="{ADMIN_SCOPE}"'
        )
    return ProblemError(403, detail, headers=headers)


async def get_authenticator(request: Request) -> Authenticator | None:
    authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
    return authenticator


async def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    authenticator: Annotated[Authenticator | None, Depends(get_authenticator)],
) -> Principal | None:
    """The verified caller; None when authentication is off (AUTH_MODE=none)."""
    if authenticator is None:
        return None
    if credentials is None:
        raise unauthorized(None)
    try:
        return await authenticator.verify(credentials.credentials)
    except InvalidTokenError as exc:
        logger.debug("bearer token refused: %s", exc.description)
        raise unauthorized(exc.description) from None
    except KeysUnavailableError as exc:
        logger.warning("cannot verify bearer tokens: %s", exc)
        raise ProblemError(
            503,
            "The identity provider's signing keys cannot be fetched; try again shortly.",
            headers={"Retry-After": "5"},
        ) from None


PrincipalDep = Annotated[Principal | None, Depends(current_principal)]
