"""Dependency aliases: handlers ask for what they need, tests override it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request

from server.auth.identity import Identity
from server.resources import Resources
from server.settings import Settings


def resources_of(app: FastAPI) -> Resources:
    """Return the lifespan's resources, or 503 while the service is starting or stopping."""
    resources: Resources | None = getattr(app.state, "resources", None)
    if resources is None:
        raise HTTPException(503, "the service is starting or stopping; retry shortly")
    return resources


async def get_resources(request: Request) -> Resources:
    """Return the resources of the app serving this request.

    Async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread
    hop that cost about a tenth of a cached `/v1/embeddings` request.
    """
    return resources_of(request.app)


async def get_settings(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_identity(request: Request) -> Identity:
    """Authenticate the request (401 if it fails) and remember who it is."""
    known: Identity | None = getattr(request.state, "identity", None)
    if known is not None:
        return known  # already authenticated for this request (the rate limiter asks first)
    refused: Exception | None = getattr(request.state, "identity_refused", None)
    if refused is not None:
        raise refused  # the same answer, without asking the authenticator a second time
    try:
        identity = await resources_of(request.app).auth.authenticator.identify(request)
    except Exception as error:
        request.state.identity_refused = error
        raise
    request.state.identity = identity
    return identity


IdentityDep = Annotated[Identity, Depends(get_identity)]
