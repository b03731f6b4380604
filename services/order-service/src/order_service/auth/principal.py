"""Who is calling: the token's subject and scopes, and what they may see."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

ADMIN_SCOPE: Final = "orders:admin"
"""A token with this scope reads every user's orders (it still creates orders only for itself)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: `subject` is the token's `sub`, `scopes` its granted scopes."""

    subject: str
    scopes: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes

    def may_read(self, user_id: str) -> bool:
        return self.is_admin or user_id == self.subject


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """OAuth 2.0 scopes: a space-separated `scope` string (RFC 8693, Cognito, Auth0, Keycloak)
    or an `scp` list (Azure AD, Okta). Anything else grants nothing."""
    scopes: set[str] = set()
    scope = claims.get("scope")
    if isinstance(scope, str):
        scopes.update(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, str):
        scopes.update(scp.split())
    elif isinstance(scp, list):
        scopes.update(s for s in scp if isinstance(s, str))
    return frozenset(scopes)
