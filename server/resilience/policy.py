"""Which failures of an upstream call are worth another attempt, and how long to wait.

One rule for every upstream (chat servers, embedding providers, Qdrant): retry connect
errors, timeouts, 408, 429 and 5xx; never any other 4xx, which another attempt would only
repeat. A `Retry-After` is honoured up to a cap; a server that asks for longer is not
retried, and its wait is passed on to the client. Only connect errors, timeouts and 5xx
count against the circuit breaker: a 4xx (429 included) says the server is up.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import openai
from langchain_core.exceptions import ModelConnectionError, ModelTimeoutError

from server.embeddings.errors import ApiError
from server.resilience.errors import CircuitOpen, UpstreamError

TRANSIENT_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """How one logical call may be retried (from the `ORCA_RETRY_*` settings)."""

    attempts: int = 3
    """Attempts in all, the first included."""
    initial_s: float = 0.2
    """Upper bound of the first backoff; each retry doubles it (full jitter)."""
    max_s: float = 5.0
    """Upper bound of any backoff."""
    retry_after_cap_s: float = 10.0
    """Longest `Retry-After` honoured."""
    deadline_s: float = 120.0
    """The whole logical call, attempts and backoff included."""


@dataclass(frozen=True)
class Verdict:
    """What a failure means for the retry loop and the circuit breaker."""

    retry: bool
    """Another attempt may succeed."""
    failure: bool
    """The upstream is failing (counts against its circuit)."""
    retry_after: float | None = None
    """The server's `Retry-After`, in seconds, when it sent one."""
    status: int | None = None
    """The upstream's HTTP status, when there was one."""


def classify(exc: BaseException, policy: RetryPolicy | None = None) -> Verdict:
    """Return whether `exc` is worth retrying and whether it counts as an upstream failure."""
    if isinstance(exc, UpstreamError):  # already final: a broken stream counts, an open circuit not
        return Verdict(retry=False, failure=not isinstance(exc, CircuitOpen))
    status = status_of(exc)
    if status is None:
        transient = is_transport_failure(exc)
        return Verdict(retry=transient, failure=transient)
    if status in TRANSIENT_STATUSES or status >= 500:
        retry_after = retry_after_of(exc)
        cap = policy.retry_after_cap_s if policy else float("inf")
        return Verdict(
            retry=retry_after is None or retry_after <= cap,
            failure=status >= 500,
            retry_after=retry_after,
            status=status,
        )
    return Verdict(retry=False, failure=False, status=status)


def status_of(exc: BaseException) -> int | None:
    """Return the upstream HTTP status an exception carries, if any.

    Covers the OpenAI SDK (`status_code`), httpx, Ollama (`status_code`), Qdrant's
    `UnexpectedResponse` (`status_code`) and the embedding providers' `ApiError`
    (`upstream_status`, else its own status when that is a provider failure).
    """
    if isinstance(exc, ApiError):
        return exc.upstream_status or exc.status
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_transport_failure(exc: BaseException) -> bool:
    """Return whether `exc` is a connect error, a reset or a timeout (no HTTP answer)."""
    if isinstance(exc, TimeoutError | ConnectionError | httpx.TransportError):
        return True
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return True
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
        return True
    if isinstance(exc, ModelConnectionError | ModelTimeoutError):  # LangChain's own wrappers
        return True
    source = getattr(exc, "source", None)  # qdrant's ResponseHandlingException wraps httpx's
    return isinstance(source, BaseException) and is_transport_failure(source)


def retry_after_of(exc: BaseException) -> float | None:
    """Return the `Retry-After` (or `retry-after-ms`) the failed answer carried, in seconds."""
    headers = _headers_of(exc)
    if headers is not None:
        milliseconds = headers.get("retry-after-ms")
        if milliseconds:
            try:
                return max(float(milliseconds) / 1000, 0.0)
            except ValueError:
                pass
        parsed = parse_retry_after(headers.get("retry-after"))
        if parsed is not None:
            return parsed
    value = getattr(exc, "upstream_retry_after", None)
    return float(value) if isinstance(value, int | float) else None


def parse_retry_after(value: str | None) -> float | None:
    """Read `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _headers_of(exc: BaseException) -> Any:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        headers = getattr(exc, "headers", None)  # qdrant's UnexpectedResponse
    return headers if hasattr(headers, "get") else None  # ApiError.headers is a method


def is_cancellation(exc: BaseException) -> bool:
    """Return whether the caller went away (not the upstream's fault)."""
    return isinstance(exc, asyncio.CancelledError | GeneratorExit)
