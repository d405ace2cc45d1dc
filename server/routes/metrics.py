"""`GET /metrics`: the app's Prometheus registry in the text exposition format."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Expose every metric family of this app (404 when metrics are off)."""
    if not request.app.state.settings.metrics_enabled:
        raise HTTPException(404, "metrics are turned off (ORCA_METRICS_ENABLED=false)")
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
