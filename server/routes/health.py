"""Liveness and per-dependency health; langgraph-api's `/ok` and `/info` for its clients.

Like `/health`, `/ok` and `/info` need no credentials and count against no rate limit
(`server/guards/admission.py`): probes call `/ok`, and Agent Chat UI calls `/info` on every
page load, before anyone has signed in, and shows "Failed to connect" when it fails.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from server.deps import ResourcesDep, SettingsDep
from server.health_checks import check_all, probe

router = APIRouter(tags=["health"])

DB_RETRY_AFTER_S = 5
"""What a 503 from `/ok?check_db=1` asks a probe to wait before asking again."""


@router.get("/health")
@router.head("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    """Answer while the process is alive, whatever its dependencies do (HEAD: monitors')."""
    return {"status": "ok"}


@router.get("/health/detailed", response_model=None)
async def health_detailed(resources: ResourcesDep) -> JSONResponse:
    """Probe every dependency; 503 when any is down, naming it."""
    checks: dict[str, Any] = await check_all(resources)
    down = sorted(name for name, report in checks.items() if report["status"] != "up")
    body = {"status": "down" if down else "ok", "down": down, "checks": checks}
    return JSONResponse(body, status_code=503 if down else 200)


@router.get("/ok", response_model=None)
@router.head("/ok", response_model=None, include_in_schema=False)
async def ok(
    resources: ResourcesDep,
    check_db: Annotated[int, Query(ge=0, le=1, description="1: also query the database")] = 0,
) -> JSONResponse:
    """Answer `{"ok": true}`, as langgraph-api; with `check_db=1`, 503 if a database is down.

    The databases are the run store (threads, runs, their events) and the checkpointer:
    the same PostgreSQL, or the embedded default's two SQLite files.
    """
    if not check_db:
        return JSONResponse({"ok": True})
    checks: dict[str, Callable[[], Awaitable[Any]]] = {
        f"checkpointer:{resources.checkpoints.kind}": resources.checkpoints.ping
    }
    if resources.runs is not None:
        checks["runs"] = resources.runs.store.count_pending
    reports = dict(zip(checks, await asyncio.gather(*map(probe, checks.values())), strict=True))
    down = {name: report["error"] for name, report in reports.items() if report["status"] != "up"}
    if not down:
        return JSONResponse({"ok": True})
    detail = "; ".join(f"{name}: {error}" for name, error in down.items())
    return JSONResponse(
        {"ok": False, "detail": f"the database is not answering ({detail})"},
        status_code=503,
        headers={"Retry-After": str(DB_RETRY_AFTER_S)},
    )


@router.get("/info")
async def info(settings: SettingsDep) -> dict[str, Any]:
    """Describe this server as langgraph-api does: versions, and what it supports."""
    return {
        "version": importlib.metadata.version("citadel-orca"),
        "langgraph_py_version": importlib.metadata.version("langgraph"),
        "flags": {
            "assistants": True,  # a system one per served graph, and saved ones
            # The crons API is always served (`/runs/crons`, `/threads/{id}/runs/crons`); a
            # process with ORCA_CRON_POLL_S=0 stores them and another one fires them.
            "crons": True,
            "langsmith": settings.langsmith_tracing,
            "langsmith_tracing_replicas": False,  # `langsmith_tracer` is accepted, not acted on
        },
        "host": {
            "kind": "self-hosted",
            "project_id": None,
            "host_revision_id": None,
            "revision_id": None,
            "tenant_id": None,
        },
    }
