"""Cross-origin calls from browsers, only from the origins configured.

No origins (the default) means no CORS middleware and no CORS headers: browsers then refuse
cross-origin calls, which is the safe answer for a service that holds threads and keys.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from server.settings import Settings

REQUEST_HEADERS = [
    "Content-Type",
    "Authorization",
    "X-API-Key",
    "X-Request-ID",
    "Last-Event-ID",
    "Prefer",
]
"""What AG-UI clients (`@ag-ui/client`'s `HttpAgent`) and API-key callers send,
`Last-Event-ID`, with which `useStream` re-attaches to a run's stream after a reload, and
`Prefer: return=minimal` (a thread update that wants no body back)."""
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
"""Every method the API serves: a page deletes threads, patches them and puts store items
too (with only GET and POST, their preflights were refused)."""
EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "Content-Location",
    "Location",
    "X-Pagination-Total",
    "X-Pagination-Next",
]
"""What a page may read from answers: the id to quote in a report, the wait after 429/503,
where a run is (`@langchain/langgraph-sdk` reads the run id from `Content-Location`), and a
search's paging (the SDK's `search(..., response_format="object")` reads `next` there)."""


def add_cors(app: FastAPI, settings: Settings) -> None:
    """Allow the configured origins, if any; call it last, so CORS wraps every answer."""
    if not settings.cors_origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=METHODS,
        allow_headers=REQUEST_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
