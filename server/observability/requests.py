"""Per-request bookkeeping as plain ASGI middleware: request id, HTTP metrics, one log line.

Plain ASGI, not `BaseHTTPMiddleware`, so streaming responses pass through untouched.
`X-Request-ID` is taken from the request when it is a sane token (so a proxy's id follows
the request through) or generated, echoed on the response, and put in every log line the
request causes. `/metrics` and `/health*` are left out of the HTTP metrics and the log.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.observability.metrics import Metrics

log = logging.getLogger("orca.requests")

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
"""The id of the request being served, for log lines."""
SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNTRACKED_PREFIXES = ("/metrics", "/health")


class RequestObserver:
    """ASGI middleware recording each HTTP request."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, tracer: Any | None = None, enabled: bool = True
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.enabled = enabled
        """False: request ids and spans only, no metrics or request log."""
        self.tracer = tracer
        """OpenTelemetry tracer; with it, each request is a span."""
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        """The labelled counter and histogram of each (route, method, status) seen so far:
        `labels()` validates and locks on every call, a dict lookup does not."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then count it and log it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if self.tracer is None:
                await self.app(scope, receive, send_with_id)
            else:
                await self._traced(scope, receive, send_with_id, request_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        method = scope.get("method", "GET")
        with self.tracer.start_as_current_span(f"{method} {scope.get('path', '')}") as span:
            span.set_attribute("http.request.method", method)
            span.set_attribute("orca.request_id", request_id)
            statuses: list[int] = []

            async def observe(message: Message) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])
                await send(message)

            await self.app(scope, receive, observe)
            route = route_template(scope)
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
            if statuses:
                span.set_attribute("http.response.status_code", statuses[0])

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        path: str = scope.get("path", "")
        if not self.enabled or path.startswith(UNTRACKED_PREFIXES):
            return
        route = route_template(scope)
        method = scope.get("method", "GET")
        series = self._series.get((route, method, status))
        if series is None:
            series = self._series[route, method, status] = (
                self.metrics.http_requests.labels(route, method, str(status)),
                self.metrics.http_duration.labels(route, method),
            )
        series[0].inc()
        series[1].observe(seconds)
        log.info(
            "request",
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "identity": _identity(scope),
            },
        )


def _identity(scope: Scope) -> str:
    """Return whom the request was authenticated as (`get_identity` keeps it in its state)."""
    identity: Any = (scope.get("state") or {}).get("identity")
    return str(getattr(identity, "id", "anonymous"))


def route_template(scope: Scope) -> str:
    """Return the matched route's template (`/agui/{workflow}`), or `unmatched`."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if SAFE_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex
