"""A JWKS endpoint on loopback and tokens signed with keys the test generates (Clerk-shaped)."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

ISSUER = "https://clerk.orca.test"
ORIGIN = "https://app.orca.test"


def new_key() -> rsa.RSAPrivateKey:
    """Return a fresh RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_app(keys: dict[str, rsa.RSAPrivateKey]) -> FastAPI:
    """Serve the public halves of `keys` (by kid); `app.state.fetches` counts requests."""
    app = FastAPI()
    app.state.fetches = 0

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        app.state.fetches += 1
        entries = []
        for kid, key in keys.items():
            entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            entries.append({**entry, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": entries}

    return app


def token(key: Any, kid: str, **overrides: Any) -> str:
    """Sign a Clerk-like session token; `overrides` replace claims (None removes one)."""
    now = int(time.time())
    claims = {
        "sub": "user_alice",
        "iss": ISSUER,
        "azp": ORIGIN,
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 60,
        "sid": "sess_1",
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    algorithm = "HS256" if isinstance(key, bytes) else "RS256"
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})
