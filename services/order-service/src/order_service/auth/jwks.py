"""An identity provider's signing keys (JWKS), fetched with httpx, cached, refreshed on rotation.

Keys are fetched when first needed, trusted for `ttl_s`, and fetched again sooner when a token
names a `kid` the cache does not hold (the provider rotated its keys), but at most once every
`min_refresh_s`: a stream of tokens with made-up `kid`s cannot turn into a stream of fetches.
Concurrent requests share one fetch. A failed refresh keeps the keys already held.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWTError

logger = logging.getLogger("orderflow.auth")

MAX_JWKS_BYTES = 256 * 1024


class KeysUnavailableError(Exception):
    """The key set could not be fetched and no keys are held: tokens cannot be verified now."""


class JwksCache:
    """The signing keys at `url`, by key id.

    ttl_s: how long a fetched key set is used before it is fetched again (default 600 s).
    min_refresh_s: the least time between two fetches caused by unknown key ids (default 30 s).
    retry_s: the least time between a failed fetch and the next attempt (default 5 s).
    timeout_s: one fetch's timeout (default 5 s).
    clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float = 600.0,
        min_refresh_s: float = 30.0,
        retry_s: float = 5.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._ttl_s = ttl_s
        self._min_refresh_s = min_refresh_s
        self._retry_s = retry_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_failed = False
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the key set was fetched (successfully or not)."""

    async def key(self, kid: str) -> PyJWK | None:
        """The key with id `kid`, or None when the provider does not have it (after a refresh).

        Raises `KeysUnavailableError` when no key set was ever fetched and fetching fails.
        """
        if self._should_fetch(kid):
            async with self._lock:
                # Requests that waited for the lock find the keys another one just fetched.
                if self._should_fetch(kid):
                    await self._refresh(kid)
        if self._fetched_at is None:
            raise KeysUnavailableError(f"the signing keys at {self._url} could not be fetched")
        return self._keys.get(kid)

    def _should_fetch(self, kid: str) -> bool:
        now = self._clock()
        if self._attempted_at is not None:
            since_attempt = now - self._attempted_at
            if self._last_failed and since_attempt < self._retry_s:
                return False
        if self._fetched_at is None or now - self._fetched_at >= self._ttl_s:
            return True
        # A rotated key: refresh before the TTL, but not once per made-up key id.
        return kid not in self._keys and (
            self._attempted_at is None or now - self._attempted_at >= self._min_refresh_s
        )

    async def _refresh(self, kid: str) -> None:
        self.fetches += 1
        self._attempted_at = self._clock()
        try:
            keys = await self._fetch()
        except (httpx.HTTPError, ValueError, PyJWTError) as exc:
            self._last_failed = True
            # The keys already held stay in use: an unreachable provider should not lock out
            # every caller whose token it signed earlier.
            logger.warning("fetching the JWKS at %s failed: %s", self._url, exc)
            return
        self._last_failed = False
        self._keys = keys
        self._fetched_at = self._attempted_at
        known = kid in keys
        logger.info(
            "fetched %d signing key(s) from %s (the requested key id is %s)",
            len(keys),
            self._url,
            "known" if known else "unknown",
        )

    async def _fetch(self) -> dict[str, PyJWK]:
        async with httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False) as client:
            response = await client.get(self._url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
        document: Any = response.json()
        if not isinstance(document, dict):
            raise ValueError("the JWKS is not a JSON object")
        key_set = PyJWKSet.from_dict(document)
        return {
            key.key_id: key
            for key in key_set.keys
            # Only signing keys with an id can be chosen by a token's `kid`.
            if key.key_id and key.public_key_use in (None, "sig")
        }
