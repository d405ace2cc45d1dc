"""Turn a request's credentials into an `Identity`, or refuse it with 401.

Modes (`ORCA_AUTH_MODE`): `none` (everyone is the shared `public` identity), `api_key`,
`clerk`, or `both`. Credentials come as `Authorization: Bearer <token>`; an API key may also
come as `X-API-Key`. Keys and tokens are never logged.
"""

from __future__ import annotations

from fastapi import Request

from server.auth.clerk import ClerkVerifier, TokenRejected
from server.auth.identity import ANONYMOUS, Identity
from server.auth.keys import KeyStore, looks_like_key
from server.auth.scopes import DEFAULT_SCOPES
from server.embeddings.errors import ApiError


class Authenticator:
    """The configured ways in."""

    def __init__(
        self,
        mode: str,
        *,
        keys: KeyStore | None,
        clerk: ClerkVerifier | None,
        anonymous_scopes: frozenset[str] = DEFAULT_SCOPES,
    ) -> None:
        self.mode = mode
        self.keys = keys if mode in ("api_key", "both") else None
        self.clerk = clerk if mode in ("clerk", "both") else None
        self.anonymous = Identity(ANONYMOUS.id, ANONYMOUS.kind, anonymous_scopes)

    async def identify(self, request: Request) -> Identity:
        """Return the caller's identity.

        Raises:
            ApiError: 401 (with `WWW-Authenticate`) for missing or invalid credentials.
        """
        if self.mode == "none":
            return self.anonymous
        token = _bearer(request) or request.headers.get("x-api-key", "")
        if not token:
            raise unauthorized("send credentials: Authorization: Bearer <API key or token>")
        if looks_like_key(token):
            if self.keys is not None:
                holder = await self.keys.holder_of(token)
                if holder is not None:
                    return Identity(id=holder.owner, kind="api_key", scopes=holder.scopes)
            raise unauthorized("the API key is not valid")
        if self.clerk is not None:
            try:
                subject, scopes = await self.clerk.verify(token)
                return Identity(id=subject, kind="clerk", scopes=scopes)
            except TokenRejected as exc:
                raise unauthorized(f"the token is not valid: {exc}") from None
        raise unauthorized("the credentials are not valid")


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def unauthorized(message: str) -> ApiError:
    """Return a 401 that tells the client how to authenticate."""
    error = ApiError(401, message, code="invalid_api_key")
    error.extra_headers = {"WWW-Authenticate": 'Bearer realm="citadel-orca"'}
    return error
