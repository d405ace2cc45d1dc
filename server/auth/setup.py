"""Open the auth services for the lifespan and the `orca keys` command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from checkpoints.open import prepare_threshold
from server.auth.authenticate import Authenticator
from server.auth.clerk import ClerkVerifier, JwksCache
from server.auth.db import Database, PostgresDatabase, open_sqlite
from server.auth.keys import KeyStore
from server.auth.langgraph_auth import ProjectAuthenticator, load_project_auth
from server.settings import Settings


@dataclass(frozen=True)
class AuthServices:
    """What handlers need to know who calls (threads are owned through the run service)."""

    authenticator: Authenticator | ProjectAuthenticator
    """API keys and Clerk (`ORCA_AUTH_MODE`), or the project's own (`ORCA_AUTH_PATH`)."""
    keys: KeyStore


@asynccontextmanager
async def open_database(settings: Settings, pool: Any | None = None) -> AsyncIterator[Database]:
    """Yield the service database: the given PostgreSQL pool, or the embedded SQLite file."""
    if settings.postgres_url and pool is not None:
        yield PostgresDatabase(pool)
        return
    if settings.postgres_url:
        from psycopg_pool import AsyncConnectionPool

        async with AsyncConnectionPool(
            str(settings.postgres_url),
            min_size=1,
            max_size=2,
            kwargs={
                "autocommit": True,
                "prepare_threshold": prepare_threshold(settings.postgres_prepared_statements),
            },
        ) as own_pool:
            yield PostgresDatabase(own_pool)
        return
    async with open_sqlite(settings.data_dir / "orca.sqlite") as db:
        yield db


def build_auth(settings: Settings, db: Database) -> AuthServices:
    """Build the authenticator: the project's (`ORCA_AUTH_PATH`), else the configured mode.

    Raises:
        AuthPathError: when `ORCA_AUTH_PATH` names no usable `Auth` (start-up stops).
    """
    clerk = None
    if settings.clerk_issuer is not None:
        issuer = str(settings.clerk_issuer).rstrip("/")
        jwks_url = str(settings.clerk_jwks_url or f"{issuer}/.well-known/jwks.json")
        clerk = ClerkVerifier(
            JwksCache(jwks_url, min_refresh_s=settings.jwks_min_refresh_s),
            issuer=issuer,
            authorized_parties=settings.clerk_authorized_parties,
            scopes_claim=settings.clerk_scopes_claim,
        )
    keys = KeyStore(db)
    if settings.auth_path:
        project_auth = load_project_auth(settings.auth_path, settings.auth_base_dir)
        return AuthServices(authenticator=ProjectAuthenticator(project_auth), keys=keys)
    return AuthServices(
        authenticator=Authenticator(
            settings.auth_mode,
            keys=keys,
            clerk=clerk,
            anonymous_scopes=settings.anonymous_scopes,
        ),
        keys=keys,
    )
