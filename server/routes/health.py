"""Liveness and per-dependency health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from server.deps import ResourcesDep
from server.health_checks import check_all

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Answer while the process is alive, whatever its dependencies do."""
    return {"status": "ok"}


@router.get("/health/detailed", response_model=None)
async def health_detailed(resources: ResourcesDep) -> JSONResponse:
    """Probe every dependency; 503 when any is down, naming it."""
    checks: dict[str, Any] = await check_all(resources)
    down = sorted(name for name, report in checks.items() if report["status"] != "up")
    body = {"status": "down" if down else "ok", "down": down, "checks": checks}
    return JSONResponse(body, status_code=503 if down else 200)
