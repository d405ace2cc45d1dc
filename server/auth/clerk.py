"""Clerk session tokens: RS256 JWTs verified against the configured JWKS with PyJWT.

Checked: the signature (RS256 only; `alg: none` and HMAC tricks are refused), `exp`, `nbf`
and `iat` with a small leeway, `iss` (Clerk's SDK does not check it), and `azp` against the
allowed origins. The JWKS is cached; an unknown `kid` triggers at most one refetch per
`min_refresh_s`, single-flight, so a flood of forged tokens cannot hammer Clerk. A fetch that
fails (unreachable, 5xx, not a JWKS) is retried after `retry_failed_s` instead, and meanwhile a
token whose key is not cached is answered 503: the caller's token may well be valid.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from server.auth.scopes import DEFAULT_SCOPES, known_scopes
from server.embeddings.errors import ApiError

log = logging.getLogger("orca.auth")

MAX_SUBJECT_CHARS = 16_384
"""Longest `sub` accepted. Clerk's ids are ~32 characters; the bound only keeps an absurd
subject out of every owner column and log line (10,000 characters worked before it, so it
stays above that)."""


class TokenRejected(Exception):
    """The token is not valid; the message says why (never logged with the token)."""


class JwksUnavailable(Exception):
    """The JWKS could not be fetched or read; the message says why."""


class JwksCache:
    """Signing keys by `kid`, refetched rarely."""

    def __init__(
        self,
        url: str,
        *,
        min_refresh_s: float = 60.0,
        retry_failed_s: float = 5.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.min_refresh_s = min_refresh_s
        self.retry_failed_s = retry_failed_s
        """Least time between fetches after one failed: short, so a recovered JWKS is used
        within seconds (not `min_refresh_s`), yet a flood still causes one fetch per period."""
        self.timeout_s = timeout_s
        self.fetches = 0
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        """When a fetch last succeeded."""
        self._failed_at = float("-inf")
        self._failure: str | None = None
        """Why the latest fetch failed; None once one succeeds."""
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Any:
        """Return the key for `kid`.

        Raises:
            TokenRejected: when no key has that id (after at most one allowed refetch).
            ApiError: 503 when the key is not cached and the JWKS cannot be fetched, since
                the token may be signed with a key Clerk rotated in meanwhile.
        """
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and self._may_fetch(time.monotonic()):
                await self._refresh()
        if kid in self._keys:
            return self._keys[kid]
        if self._failure is not None:
            # Why it failed is logged, not sent: it may name an internal address.
            raise ApiError(
                503,
                "Clerk's signing keys (JWKS) cannot be fetched to check the token; retry shortly",
                retry_after=max(1.0, self.retry_failed_s),
            )
        raise TokenRejected("unknown signing key")

    def _may_fetch(self, now: float) -> bool:
        if self._failure is not None:
            return now - self._failed_at >= self.retry_failed_s
        return now - self._fetched_at >= self.min_refresh_s

    async def _refresh(self) -> None:
        self.fetches += 1
        try:
            keys = await self._fetch()
        except JwksUnavailable as exc:
            self._failure = str(exc)
            self._failed_at = time.monotonic()
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return
        self._keys = keys
        self._failure = None
        self._fetched_at = time.monotonic()

    async def _fetch(self) -> dict[str, Any]:
        """Return the usable keys of the JWKS by `kid`.

        Raises:
            JwksUnavailable: when it cannot be fetched, is not a JWKS, or lists keys of which
                none is usable (the keys cached so far are then kept).
        """
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            # A timeout's str() is empty: the type is what says what happened.
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise JwksUnavailable(detail) from exc
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise JwksUnavailable("the document is not a JWKS (no `keys` list)")
        keys = {}
        for entry in entries:
            kid, key = self._read_key(entry)
            if kid is not None:
                keys[kid] = key
        if entries and not keys:
            raise JwksUnavailable("it holds no usable RS256 key")
        return keys

    def _read_key(self, entry: object) -> tuple[str | None, Any]:
        """Return an entry's `kid` and RSA key, or (None, None) to skip it (with a warning)."""
        import jwt  # PyJWT pulls in `cryptography` (~10 MiB): only Clerk-verifying servers pay

        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            return None, None  # other key types are not ours to use (RS256 only)
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            log.warning("JWKS from %s: skipped an RSA key without a string kid", self.url)
            return None, None
        try:
            return kid, jwt.PyJWK(entry, algorithm="RS256").key
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.warning("JWKS from %s: skipped key %r: %s", self.url, kid[:64], exc)
            return None, None


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
            ApiError: 503 while the JWKS is unavailable and the token's key is not cached.
        """
        return (await self.verify(token))[0]

    async def verify(self, token: str) -> tuple[str, frozenset[str]]:
        """Return the token's `sub` and the scopes its scopes claim grants.

        A token without the claim gets the default scopes; unknown names in it are ignored.

        Raises:
            TokenRejected: for any invalid token, and for one whose `sub` is empty or not
                storable (a subject is the identity that owns threads and documents).
            ApiError: 503 while the JWKS is unavailable and the token's key is not cached.
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
        if self.authorized_parties:
            party = claims.get("azp")  # any JSON value: a list is unhashable, hence the check
            if not isinstance(party, str) or party not in self.authorized_parties:
                raise TokenRejected("the token was issued for another origin (azp)")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise TokenRejected("the token names no subject (sub)")
        if not usable_subject(subject):
            raise TokenRejected("the token names no usable subject (sub)")
        if self.scopes_claim not in claims:
            return subject, DEFAULT_SCOPES
        return subject, known_scopes(claims[self.scopes_claim])


def usable_subject(subject: str) -> bool:
    r"""Return whether `subject` can be stored as an owner.

    PostgreSQL text refuses NUL (psycopg raised DataError: a 500), and UTF-8 cannot encode
    a lone surrogate, which a JSON escape such as `"\ud800"` can smuggle in.
    """
    if len(subject) > MAX_SUBJECT_CHARS or "\x00" in subject:
        return False
    try:
        subject.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
