"""Errors become answers: in OpenAI's envelope on `/v1/*`, FastAPI's `{"detail"}` elsewhere.

A dependency that is down is a 503 that names it, with `Retry-After`, never a bare 500.
"""

from __future__ import annotations

import logging

import httpx
import ollama
import openai
import psycopg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from qdrant_client.http.exceptions import ResponseHandlingException
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.embeddings.errors import ApiError
from server.resilience.errors import UpstreamError
from server.runs.assistants import AssistantExists, AssistantReadOnly
from server.runs.records import ThreadBusy, ThreadExists
from server.runs.service import Forbidden, NotFound, RunRejected

log = logging.getLogger("orca")

OPENAI_PREFIX = "/v1/"

UPSTREAM_ERRORS: dict[type[Exception], str] = {
    openai.APIConnectionError: "chat or embedding model server",
    openai.InternalServerError: "chat or embedding model server",
    httpx.TransportError: "model server",
    ConnectionError: "model server",
    ResponseHandlingException: "Qdrant",
    psycopg.OperationalError: "PostgreSQL",
}


DEPENDENCY_STATUSES = frozenset({502, 503, 504})
"""An `ApiError` with one of these reports a dependency down, failing or too slow."""

RUN_ERRORS: dict[type[Exception], int] = {
    NotFound: 404,
    Forbidden: 403,
    ThreadExists: 409,
    ThreadBusy: 409,
    RunRejected: 422,
    AssistantExists: 409,
    AssistantReadOnly: 409,
}
"""What the threads-and-runs API's refusals become (`{"detail"}`, like langgraph-api)."""


def run_error_message(exc: Exception) -> str:
    """Say what went wrong and what to do, for a runs API refusal."""
    if isinstance(exc, ThreadExists):
        return f"thread {exc} already exists; pass if_exists='do_nothing' to reuse your own"
    if isinstance(exc, AssistantExists):
        return f"assistant {exc} already exists; pass if_exists='do_nothing' to reuse your own"
    if isinstance(exc, ThreadBusy):
        return (
            f"thread {exc} is already running a run; wait for it to finish or choose another "
            "multitask_strategy (enqueue, interrupt, rollback)"
        )
    return refusal_text(exc)


def refusal_text(exc: Exception) -> str:
    """Return an exception's message as raised, quotes and all.

    A `KeyError`'s `str()` wraps its message in quotes; taking its one argument avoids them
    without stripping quotes off the message itself (that made `no thread 'a1`).
    """
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)


def speaks_openai(request: Request) -> bool:
    """Return whether the request is on the OpenAI-compatible surface."""
    return request.url.path.startswith(OPENAI_PREFIX)


def add_error_handlers(app: FastAPI) -> None:
    """Register the handlers; each picks the envelope by the request's surface."""
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_exception_handler(ollama.ResponseError, ollama_refused)
    app.add_exception_handler(UpstreamError, upstream_error)
    app.add_exception_handler(psycopg.errors.ProgramLimitExceeded, too_large_to_store)
    for exc_type, status in RUN_ERRORS.items():

        async def run_error(request: Request, exc: Exception, status: int = status) -> Response:
            if status == 422 and speaks_openai(request):  # OpenAI's status for a bad request
                status = 400
            return await api_error(request, ApiError(status, run_error_message(exc)))

        app.add_exception_handler(exc_type, run_error)
    for exc_type, dependency in UPSTREAM_ERRORS.items():

        async def handler(
            request: Request, exc: Exception, dependency: str = dependency
        ) -> Response:
            log.warning("%s unavailable on %s: %s", dependency, request.url.path, exc)
            return await api_error(request, unavailable(dependency, exc))

        app.add_exception_handler(exc_type, handler)


async def api_error(request: Request, exc: Exception) -> Response:
    """Answer an `ApiError` in the envelope of the surface."""
    assert isinstance(exc, ApiError)
    body = exc.body() if speaks_openai(request) else {"detail": exc.message}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers())


async def validation_error(request: Request, exc: Exception) -> Response:
    """Answer FastAPI's validation errors with 400 on `/v1/*`, FastAPI's 422 elsewhere."""
    assert isinstance(exc, RequestValidationError)
    if not speaks_openai(request):
        return await request_validation_exception_handler(request, exc)
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = f"Invalid request: {first.get('msg', 'invalid body')}" + (
        f" ({param})" if param else ""
    )
    return await api_error(request, ApiError(400, message, param=param))


async def http_error(request: Request, exc: Exception) -> Response:
    """Answer routing and framework errors (404, 405, 503 while starting) per surface."""
    assert isinstance(exc, HTTPException)
    if not speaks_openai(request):
        return await http_exception_handler(request, exc)
    message = str(exc.detail)
    code = None
    if exc.status_code == 404:
        message, code = f"Unknown request URL: {request.method} {request.url.path}.", "unknown_url"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    retry_after = 5.0 if exc.status_code == 503 else None
    error = ApiError(exc.status_code, message, code=code, retry_after=retry_after)
    error.extra_headers.update(exc.headers or {})  # a 405's `Allow`
    return await api_error(request, error)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """Answer a bug with a 500 that carries no stack trace (it goes to the log)."""
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    if speaks_openai(request):
        return await api_error(request, ApiError(500, "The server had an error; it is logged."))
    return PlainTextResponse("Internal Server Error", status_code=500)


async def too_large_to_store(request: Request, exc: Exception) -> Response:
    """Answer a value past one of PostgreSQL's limits (an index row over 2,704 bytes) with a 4xx.

    psycopg files it under `OperationalError`, which otherwise means the database is away
    (503); this one is the request's doing. The rules in front of the stores refuse such
    values by name first (thread ids, store keys); this is the net under them.
    """
    log.warning("a value too large for PostgreSQL on %s: %s", request.url.path, exc)
    message = (
        "a value in the request is too large for the database to store or index "
        "(an id, a key or a name); send a shorter one"
    )
    return await api_error(request, ApiError(400 if speaks_openai(request) else 422, message))


async def upstream_error(request: Request, exc: Exception) -> Response:
    """Answer a guarded upstream's failure: 503 (down, circuit open), 504 (no answer), 502.

    `Retry-After` is the upstream's own when it sent one (capped by the retry policy), or
    the time until an open circuit lets a probe through.
    """
    assert isinstance(exc, UpstreamError)
    log.warning("%s on %s", exc, request.url.path)
    return await api_error(request, upstream_failure(exc))


async def ollama_refused(request: Request, exc: Exception) -> Response:
    """Report what Ollama said; its 4xx are our configuration's fault, so 502."""
    return await api_error(request, ollama_failure(exc))


def unavailable(dependency: str, exc: BaseException) -> ApiError:
    """Return the 503 for a dependency that could not be reached, naming it."""
    message = f"{dependency} is unavailable: {type(exc).__name__}: {exc}"
    return ApiError(503, message, retry_after=5)


def upstream_failure(exc: UpstreamError) -> ApiError:
    """Return the answer for a guarded upstream's failure, with its status and wait."""
    return ApiError(exc.status, str(exc), code=exc.code, retry_after=exc.retry_after)


def ollama_failure(exc: BaseException) -> ApiError:
    """Return the answer for Ollama's refusal: 503 for its 5xx, 502 for the rest."""
    status = getattr(exc, "status_code", 500)
    message = f"Ollama answered {status}: {getattr(exc, 'error', str(exc))}"
    return ApiError(503 if status >= 500 else 502, message)


def dependency_failure(exc: BaseException) -> ApiError | None:
    """Return what `invoke` answers when `exc` says a dependency failed; None for the rest.

    For an answer that can no longer choose its status (a stream already under way): these
    messages name the dependency and were written to be shown, as the handlers above show
    them. Anything else, a bug included, may carry what a client must not see.
    """
    if isinstance(exc, ApiError):
        return exc if exc.status in DEPENDENCY_STATUSES else None
    if isinstance(exc, UpstreamError):
        return upstream_failure(exc)
    if isinstance(exc, ollama.ResponseError):
        return ollama_failure(exc)
    if isinstance(exc, psycopg.errors.ProgramLimitExceeded):  # the request's doing
        return None
    for exc_type in type(exc).__mro__:  # the most specific, as the handlers are looked up
        if exc_type in UPSTREAM_ERRORS:
            return unavailable(UPSTREAM_ERRORS[exc_type], exc)
    return None


class AnsweredErrors:
    """ASGI middleware answering an unhandled exception with `unexpected_error`'s 500.

    Starlette's `ServerErrorMiddleware` answers it too, then raises it again for the
    server to log; uvicorn then closes the connection without a `Connection: close`, and a
    client's next request on its pooled keep-alive connection was reset (`ECONNRESET`,
    after a LangServe run failed upstream). Here the error is logged and answered and goes
    no further. One raised after the response began (a stream cut short) still goes on up:
    its connection must close.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request; answer 500 for what escaped every handler before a response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:
                raise
            response = await unexpected_error(Request(scope), exc)
            await response(scope, receive, send)
