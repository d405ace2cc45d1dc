"""The API docs, Swagger UI at `/docs` and ReDoc at `/redoc`, with every asset served from here.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on a machine without internet
they were blank (issue 13). The `fastapi-offline` package ships both bundles; this router
serves its files under `/docs/static/` and points FastAPI's page templates at them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

ASSETS = Path(str(files("fastapi_offline") / "static"))
"""Swagger UI's and ReDoc's bundles, as the installed `fastapi-offline` ships them."""
SERVED = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"})
"""The only names `/docs/static/` answers: nothing else in (or above) that folder is served."""
STATIC_PREFIX = "/docs/static"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

# Swagger UI would otherwise show a badge image from validator.swagger.io for any spec not
# served from localhost: one more request to the internet per page load.
SWAGGER_PARAMETERS = {"validatorUrl": None}

# The pages may load scripts, styles, images and the OpenAPI document from this app only.
# ReDoc 2.5 shows an "API docs by Redocly" logo from cdn.redoc.ly that no option turns off;
# under this policy the browser drops it without a request (the link's text stays). Inline
# scripts and styles are FastAPI's page templates and the bundles' own; ReDoc runs its
# search in a worker made from a blob.
OFFLINE_POLICY = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "worker-src 'self' blob:",
        ]
    )
}

# Revalidate on every load (ETag / Last-Modified make that a 304): the files keep their
# names across package upgrades, so a cached copy would outlive one.
NO_STALE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    """Return the path prefix the app is served under (behind a proxy), without a final `/`."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Serve Swagger UI over this app's OpenAPI document."""
    app = request.app
    root = _root(request)
    page = get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
        swagger_js_url=f"{root}{STATIC_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_PREFIX}/favicon.png",
        swagger_ui_parameters={**SWAGGER_PARAMETERS, **(app.swagger_ui_parameters or {})},
        init_oauth=app.swagger_ui_init_oauth,
    )
    page.headers.update(OFFLINE_POLICY)
    return page


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    """Serve the page Swagger UI's OAuth2 login returns to (FastAPI serves it by default)."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """Serve ReDoc over this app's OpenAPI document, without Google Fonts."""
    app = request.app
    root = _root(request)
    page = get_redoc_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{STATIC_PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{STATIC_PREFIX}/favicon.png",
        with_google_fonts=False,
    )
    page.headers.update(OFFLINE_POLICY)
    return page


@router.get(STATIC_PREFIX + "/{name}")
async def docs_asset(name: str) -> FileResponse:
    """Serve one of the docs pages' bundles, or answer 404."""
    if name not in SERVED or not (ASSETS / name).is_file():
        raise HTTPException(404, f"No API docs asset named {name!r}.")
    return FileResponse(ASSETS / name, headers=NO_STALE)
