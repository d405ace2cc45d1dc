"""Clerk session tokens: RS256 JWTs verified against the configured JWKS with PyJWT.

Checked: the signature (RS256 only; `alg: none` and HMAC tricks are refused), `exp`, `nbf`
and `iat` with a small leeway, `iss` (Clerk's SDK does not check it), and `azp` against the
allowed origins. The JWKS is cached; an unknown `kid` triggers at most one refetch per
`min_refresh_s`, single-flight, so a flood of forged tokens cannot hammer Clerk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from server.auth.scopes import DEFAULT_SCOPES, known_scopes

log = logging.getLogger("orca.auth")


class TokenRejected(Exception):
    """The token is not valid; the message says why (never logged with the token)."""


class JwksCache:
    """Signing keys by `kid`, refetched rarely."""

    def __init__(self, url: str, *, min_refresh_s: float = 60.0, timeout_s: float = 5.0) -> None:
        self.url = url
        self.min_refresh_s = min_refresh_s
        self.timeout_s = timeout_s
        self.fetches = 0
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Any:
        """Return the key for `kid`.

        Raises:
            TokenRejected: when no key has that id (after at most one allowed refetch).
        """
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self.min_refresh_s:
                await self._refresh()
        if kid not in self._keys:
            raise TokenRejected("unknown signing key")
        return self._keys[kid]

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return
        import jwt  # PyJWT pulls in `cryptography` (~10 MiB): only Clerk-verifying servers pay

        keys = {}
        for entry in document.get("keys", []):
            if entry.get("kty") == "RSA" and entry.get("kid"):
                keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256").key
        self._keys = keys


class ClerkVerifier:
    """Verify a Clerk session token and return its subject."""

    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        authorized_parties: list[str],
        leeway_s: float = 5.0,
        scopes_claim: str = "orca_scopes",
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer.rstrip("/")
        self.authorized_parties = set(authorized_parties)
        self.leeway_s = leeway_s
        self.scopes_claim = scopes_claim

    async def subject(self, token: str) -> str:
        """Return the token's `sub`.

        Raises:
            TokenRejected: for any invalid token.
        """
        return (await self.verify(token))[0]

    async def verify(self, token: str) -> tuple[str, frozenset[str]]:
        """Return the token's `sub` and the scopes its scopes claim grants.

        A token without the claim gets the default scopes; unknown names in it are ignored.

        Raises:
            TokenRejected: for any invalid token, and for one whose `sub` is empty (a
                subject is the identity that owns threads and documents).
        """
        import jwt  # loaded once by the first token (see `_refresh`)

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected("malformed token") from exc
        if header.get("alg") != "RS256":
            raise TokenRejected("only RS256 tokens are accepted")
        key = await self.jwks.key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "nbf", "iat", "iss", "sub"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(type(exc).__name__) from exc
        if self.authorized_parties and claims.get("azp") not in self.authorized_parties:
            raise TokenRejected("the token was issued for another origin (azp)")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise TokenRejected("the token names no subject (sub)")
        if self.scopes_claim not in claims:
            return subject, DEFAULT_SCOPES
        return subject, known_scopes(claims[self.scopes_claim])
