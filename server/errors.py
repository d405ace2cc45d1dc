"""Turn a dependency that is down into a 503 that names it, instead of a bare 500."""

from __future__ import annotations

import logging

import httpx
import ollama
import openai
import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from qdrant_client.http.exceptions import ResponseHandlingException

log = logging.getLogger("orca")

UPSTREAM_ERRORS: dict[type[Exception], str] = {
    openai.APIConnectionError: "chat or embedding model server",
    openai.InternalServerError: "chat or embedding model server",
    httpx.TransportError: "model server",
    ConnectionError: "model server",
    ResponseHandlingException: "Qdrant",
    psycopg.OperationalError: "PostgreSQL",
}


def add_error_handlers(app: FastAPI) -> None:
    """Register one handler per upstream failure class."""
    app.add_exception_handler(ollama.ResponseError, ollama_refused)
    for exc_type, dependency in UPSTREAM_ERRORS.items():

        async def handler(
            request: Request, exc: Exception, dependency: str = dependency
        ) -> JSONResponse:
            log.warning("%s unavailable on %s: %s", dependency, request.url.path, exc)
            return JSONResponse(
                {"detail": f"{dependency} is unavailable: {type(exc).__name__}: {exc}"},
                status_code=503,
                headers={"Retry-After": "5"},
            )

        app.add_exception_handler(exc_type, handler)


async def ollama_refused(request: Request, exc: Exception) -> JSONResponse:
    """Report what Ollama said; its 4xx are our configuration's fault, so 502."""
    status = getattr(exc, "status_code", 500)
    message = getattr(exc, "error", str(exc))
    return JSONResponse(
        {"detail": f"Ollama answered {status}: {message}"},
        status_code=503 if status >= 500 else 502,
    )
