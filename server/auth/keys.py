"""API keys: random, prefixed, stored only as SHA-256 digests.

A key is `orca_sk_<id>_<secret>`: `id` names it in listings and logs, `secret` is 32 random
bytes (url-safe base64). Only `sha256(key)` is stored; a lookup finds the row by digest and
compares digests in constant time. A slow hash would add latency without adding safety to
256-bit random secrets (it protects guessable passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from server.auth.db import Database
from server.auth.scopes import DEFAULT_SCOPES, format_scopes, parse_scopes

PREFIX = "orca_sk_"
TOUCH_EVERY_S = 60.0


@dataclass(frozen=True)
class KeyRecord:
    """A stored key, without its secret."""

    id: str
    name: str
    owner: str
    created_at: str
    revoked_at: str | None
    last_used_at: str | None
    scopes: frozenset[str] = DEFAULT_SCOPES
    """What the key may do (`server.auth.scopes`)."""


@dataclass(frozen=True)
class KeyHolder:
    """Who a valid key acts as, and what it may do."""

    owner: str
    scopes: frozenset[str]


def digest(key: str) -> bytes:
    """Return the stored form of a key."""
    return hashlib.sha256(key.encode()).digest()


def looks_like_key(token: str) -> bool:
    """Return whether a bearer token is one of our API keys."""
    return token.startswith(PREFIX)


class KeyStore:
    """Create, list, revoke and check API keys."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._touched: dict[str, float] = {}

    async def create(
        self, *, name: str, owner: str, scopes: frozenset[str] = DEFAULT_SCOPES
    ) -> tuple[str, KeyRecord]:
        """Make a key; return it (shown once) and its record."""
        if not owner.strip():
            raise ValueError("a key needs an owner (the identity it acts as)")
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = _now()
        await self.db.fetch(
            "INSERT INTO orca_api_keys (id, digest, name, owner, created_at, scopes) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (key_id, digest(key), name, owner, now, format_scopes(scopes)),
        )
        return key, KeyRecord(key_id, name, owner, now, None, None, frozenset(scopes))

    async def list(self) -> list[KeyRecord]:
        """Return every key, oldest first."""
        rows = await self.db.fetch(
            "SELECT id, name, owner, created_at, revoked_at, last_used_at, scopes "
            "FROM orca_api_keys ORDER BY created_at, id"
        )
        return [
            KeyRecord(
                *(str(v) if v is not None else None for v in row[:6]),  # type: ignore[arg-type]
                scopes=parse_scopes(str(row[6])),
            )
            for row in rows
        ]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; return whether one was revoked."""
        rows = await self.db.fetch(
            "UPDATE orca_api_keys SET revoked_at = %s "
            "WHERE id = %s AND revoked_at IS NULL RETURNING id",
            (_now(), key_id),
        )
        return bool(rows)

    async def holder_of(self, key: str) -> KeyHolder | None:
        """Return who a valid, unrevoked key acts as and its scopes, or None."""
        wanted = digest(key)
        rows = await self.db.fetch(
            "SELECT id, digest, owner, scopes FROM orca_api_keys "
            "WHERE digest = %s AND revoked_at IS NULL",
            (wanted,),
        )
        if not rows or not hmac.compare_digest(bytes(rows[0][1]), wanted):
            return None
        key_id = str(rows[0][0])
        if time.monotonic() - self._touched.get(key_id, -TOUCH_EVERY_S) >= TOUCH_EVERY_S:
            # `last_used_at` to the minute: a write per request would double its cost.
            self._touched[key_id] = time.monotonic()
            await self.db.fetch(
                "UPDATE orca_api_keys SET last_used_at = %s WHERE id = %s", (_now(), key_id)
            )
        return KeyHolder(owner=str(rows[0][2]), scopes=parse_scopes(str(rows[0][3])))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
