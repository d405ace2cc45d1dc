"""Authenticate every request with the project's `@auth.authenticate` handler.

The handler asks for what it needs by parameter name, as on LangGraph's server: `request`,
`body` (the parsed JSON body), `path`, `method`, `path_params`, `query_params`, `headers`
(lower-case `bytes` names to `bytes` values) and `authorization` (the header, or None).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import Request
from langgraph_sdk import Auth

from server.auth.identity import Identity
from server.auth.langgraph_auth.user import BadUser, identity_of
from server.embeddings.errors import ApiError

log = logging.getLogger("orca")

PARAMETERS = frozenset(
    {"request", "body", "path", "method", "path_params", "query_params", "headers", "authorization"}
)


class ProjectAuthenticator:
    """The `Authenticator` of `ORCA_AUTH_PATH`: the project's handler decides who calls."""

    mode = "custom"

    def __init__(self, auth: Auth) -> None:
        handler = auth._authenticate_handler
        assert handler is not None, "load_project_auth refuses an Auth without one"
        self.auth = auth
        self.handler: Callable[..., Any] = handler
        self.wanted = [name for name in inspect.signature(handler).parameters if name in PARAMETERS]

    async def identify(self, request: Request) -> Identity:
        """Return the identity the handler names.

        Raises:
            ApiError: the handler's `Auth.exceptions.HTTPException` (status, detail,
                headers); 500 when it fails otherwise or returns no user (logged).
        """
        kwargs = {name: await _argument(name, request) for name in self.wanted}
        try:
            result = await self.handler(**kwargs)
        except Auth.exceptions.HTTPException as refused:
            raise as_api_error(refused) from None
        except Exception:
            log.exception("the @auth.authenticate handler of ORCA_AUTH_PATH failed")
            raise ApiError(
                500, "authentication failed on the server; the error is logged"
            ) from None
        try:
            return identity_of(result, self.auth)
        except BadUser as bad:
            log.error("the @auth.authenticate handler of ORCA_AUTH_PATH %s", bad)
            raise ApiError(
                500, "authentication failed on the server; the error is logged"
            ) from None


def as_api_error(refused: Auth.exceptions.HTTPException) -> ApiError:
    """Return the project's refusal as an answer in the surface's envelope."""
    error = ApiError(
        refused.status_code,
        str(refused.detail),
        code="invalid_api_key" if refused.status_code == 401 else None,
    )
    error.extra_headers = dict(refused.headers or {})
    if refused.status_code == 401:
        error.extra_headers.setdefault("WWW-Authenticate", 'Bearer realm="citadel-orca"')
    return error


async def _argument(name: str, request: Request) -> Any:
    if name == "request":
        return request
    if name == "body":
        return await _json_body(request)
    if name == "path":
        return request.url.path
    if name == "method":
        return request.method
    if name == "path_params":
        return dict(request.path_params)
    if name == "query_params":
        return dict(request.query_params)
    if name == "headers":
        return dict(request.headers.raw)
    return request.headers.get("authorization")


async def _json_body(request: Request) -> Any:
    """Return the parsed body (None when there is none or it is not JSON).

    Starlette keeps the bytes on the request, so the route still reads them afterwards.
    """
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
