"""Mount a project's `http.app` (a Starlette or FastAPI app) beside Orca's routes.

Orca's routes win on a clash: the app is the router's fallback, so it answers only the
paths Orca does not serve. LangGraph's server does the opposite (the custom app comes
first and may shadow `/threads`, `/runs`, ...); here every surface keeps its auth, ownership
and rate-limit rules, and each route of the app that Orca hides is named in one start-up
warning. Orca's middleware (body limit, request log, CORS) wraps the app's routes too; its
authentication does not (as in LangGraph without `enable_custom_route_auth`), and the app's
own lifespan runs inside Orca's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match, Route

from server.projects.config import Project, ProjectError
from server.projects.targets import import_target

log = logging.getLogger("orca.projects")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def load_http_app(project: Project) -> Starlette:
    """Import the project's `http.app`.

    Raises:
        ProjectError: it cannot be imported, or is not a Starlette/FastAPI app.
    """
    assert project.http_app is not None
    found = import_target(project.root, project.http_app, owner="http.app")
    if not isinstance(found, Starlette):
        raise ProjectError(
            f"http.app: {project.http_app!r} is a {type(found).__name__}, not a Starlette "
            "or FastAPI app"
        )
    return found


def mount_http_app(app: FastAPI, custom: Starlette) -> None:
    """Let `custom` answer every request no route of `app` matches (Orca's routes win).

    It is Starlette's fallback of the router, so routes added to `app` later win too.
    """
    app.router.default = custom


def with_app_lifespan(lifespan: Lifespan, custom: Starlette) -> Lifespan:
    """Return `lifespan` running the custom app's lifespan inside it (a fallback runs none).

    At start, each route of the app that one of Orca's hides is named in one warning.
    """

    @asynccontextmanager
    async def both(app: FastAPI) -> AsyncIterator[None]:
        hidden = [
            f"{method} {route.path}"
            for route in custom.routes
            if isinstance(route, Route) and route.include_in_schema  # not its /docs
            for method in sorted(route.methods or {"GET"})
            if method != "HEAD" and _served_by(app.router.routes, route.path, method)
        ]
        if hidden:
            log.warning(
                "http.app: Orca's routes answer %s, so the app's own are not reached there",
                ", ".join(hidden),
            )
        async with lifespan(app), custom.router.lifespan_context(custom):
            yield

    return both


def _served_by(routes: list[BaseRoute], path: str, method: str) -> bool:
    scope: dict[str, Any] = {"type": "http", "path": path, "method": method, "root_path": ""}
    return any(route.matches(scope)[0] is Match.FULL for route in routes)
