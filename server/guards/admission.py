"""Admit a request or refuse it with 429, by the class of its route and who is asking.

`Guards.admit` is an app-wide FastAPI dependency, so every API route, LangServe's
included, passes through it once its route is known. Route classes:

- exempt: `/health*`, `/metrics` and langgraph-api's `/ok` and `/info`, which probes,
  scrapers and clients' start-up checks call on a schedule;
- runs: `POST /agui/{workflow}` and LangServe's `invoke`, `batch` and `stream*`, which count
  against `ORCA_RATE_LIMIT_RUNS` (each run of a batch) on top of `ORCA_RATE_LIMIT`;
- streams (AG-UI and LangServe `stream*`), which also hold one of the caller's
  `ORCA_MAX_STREAMS_PER_IDENTITY` slots until the response ends or the client goes away
  (`ReleaseAfterResponse` gives the slot back);
- everything else counts against `ORCA_RATE_LIMIT`.

Whom a request counts against is the `key` function's answer: the client address until
requests carry an identity (`server/auth`), which plugs in through `create_app(limit_key=)`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from limits import RateLimitItem

from server.embeddings.errors import ApiError
from server.guards.rates import RateLimiter, parse_limits
from server.guards.streams import StreamSlots, after_response
from server.run_policy import MAX_BATCH_RUNS
from server.settings import Settings

LimitKey = Callable[[Request], Awaitable[str]]
"""Return whom a request counts against (an identity id, or the client address)."""
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

EXEMPT_PREFIXES = ("/health", "/metrics")
EXEMPT_PATHS = {"/ok", "/info"}
RUN_ENDPOINTS = {"invoke", "batch"}
STREAM_ENDPOINTS = {"stream", "stream_log", "stream_events"}


class RouteClass(enum.Enum):
    """What a route costs its caller."""

    EXEMPT = "exempt"
    GENERAL = "general"
    RUN = "run"
    STREAM = "stream"


def classify(method: str, template: str) -> RouteClass:
    """Return the class of a route, from its method and path template."""
    if template.startswith(EXEMPT_PREFIXES) or template in EXEMPT_PATHS:
        return RouteClass.EXEMPT
    parts = template.strip("/").split("/")
    if parts[0] in ("threads", "runs"):
        return _classify_runs_api(method, parts)
    if method != "POST":
        return RouteClass.GENERAL
    if template == "/v1/orchestrate":
        return RouteClass.RUN
    if parts[0] == "agui" and len(parts) == 2:
        return RouteClass.STREAM
    if parts[0] == "workflows" and parts[-1] in STREAM_ENDPOINTS:
        return RouteClass.STREAM
    if parts[0] == "workflows" and parts[-1] in RUN_ENDPOINTS:
        return RouteClass.RUN
    return RouteClass.GENERAL


def _classify_runs_api(method: str, parts: list[str]) -> RouteClass:
    """Runs API: creating a run is a run, any event stream (new or joined) a stream."""
    if parts[-1] == "stream" and method in ("POST", "GET"):
        return RouteClass.STREAM
    creates = parts[-1] in ("runs", "wait", "batch") and "runs" in parts
    if method == "POST" and creates:
        return RouteClass.RUN
    return RouteClass.GENERAL


class Guards:
    """Rate limits and stream slots, keyed by `key(request)`."""

    def __init__(self, settings: Settings, key: LimitKey) -> None:
        self.key = key
        self.rates = RateLimiter(str(settings.redis_url) if settings.redis_url else None)
        self.limits = parse_limits(settings.rate_limit)
        self.run_limits = parse_limits(settings.rate_limit_runs)
        self.streams = StreamSlots(settings.max_streams_per_identity)

    async def admit(self, request: Request) -> None:
        """FastAPI dependency: count the request, and hold a stream slot while it streams.

        A plain dependency (a `yield` one costs every request an exit stack): the slot is
        given back by `ReleaseAfterResponse` once the response has ended.

        Raises:
            ApiError: 429 with `Retry-After` over a rate limit or the stream cap.
        """
        route: Any = request.scope.get("route")
        template = getattr(route, "path", None) or request.scope["path"]
        kind = classify(request.method, str(template))
        if kind is RouteClass.EXEMPT:
            return
        runs = kind is not RouteClass.GENERAL
        if not (self.limits or (runs and self.run_limits) or kind is RouteClass.STREAM):
            return  # nothing to count against anyone: whom it is needs no asking
        key = await self.key(request)
        await self._count(self.limits, "all", key)
        if runs:
            await self._count(self.run_limits, "runs", key, await runs_started(request))
        if kind is RouteClass.STREAM:
            after_response(request.scope, self.streams.take(key))

    async def _count(
        self, limits: list[RateLimitItem], bucket: str, key: str, cost: int = 1
    ) -> None:
        if not limits:
            return
        if any(cost > item.amount for item in limits):  # no wait would let it in
            raise ApiError(
                429,
                f"Too many runs at once: this batch starts {cost}, and the limit is "
                f"{_describe(limits)} per caller; send smaller batches.",
                code="rate_limit_exceeded",
            )
        wait = await self.rates.hit(limits, bucket, key, cost=cost)
        if wait is not None:
            what = "runs" if bucket == "runs" else "requests"
            seconds = math.ceil(wait)  # rounded up: a retry on the hint must get in
            raise ApiError(
                429,
                f"Too many {what}: the limit is {_describe(limits)} per caller; "
                f"retry in {seconds} s.",
                code="rate_limit_exceeded",
                retry_after=seconds,
            )

    def around(self, lifespan: Lifespan) -> Lifespan:
        """Return `lifespan` followed by closing the rate-limit store."""

        @asynccontextmanager
        async def guarded(app: FastAPI) -> AsyncIterator[None]:
            try:
                async with lifespan(app):
                    yield
            finally:
                await self.rates.aclose()

        return guarded


async def runs_started(request: Request) -> int:
    """Return how many runs a run request starts: each input of a batch counts.

    `/runs/batch` is a list of runs and LangServe's `batch` holds `inputs`; the body is
    bounded by `BodyLimits` and kept by Starlette for the route. A batch over
    `MAX_BATCH_RUNS`, or one that is not JSON, counts once: the route refuses it.
    """
    if not str(request.scope.get("path", "")).endswith("/batch"):
        return 1
    try:
        body = await request.json()
    except Exception:  # noqa: BLE001 - not JSON (or nested too deep): the route answers it
        return 1
    runs = body.get("inputs") if isinstance(body, dict) else body
    if not isinstance(runs, list) or not 1 <= len(runs) <= MAX_BATCH_RUNS:
        return 1
    return len(runs)


def _describe(limits: list[RateLimitItem]) -> str:
    return " and ".join(str(item) for item in limits)
