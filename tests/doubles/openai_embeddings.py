"""An OpenAI-compatible embeddings server for tests, served on loopback, with faults on demand.

`app.state.fault` picks the next answers: None (normal), `"500"`, `"429"` (with
`Retry-After: 3`), `"stall"` (answers after `STALL_S`), `"too-long"` (400 for inputs over 50 words,
as vLLM and TEI refuse them), `"floats"` (ignore `encoding_format`, as older servers do).
`app.state.calls` records every request body.
"""

from __future__ import annotations

import asyncio
import base64

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.doubles.embedder import bag_of_words

MODEL = "bag-of-words"
STALL_S = 3.0
"""How long a stalled answer takes: longer than the tests' upstream timeout."""


def create_openai_embeddings_double() -> FastAPI:
    """Return the double; set `app.state.fault` to inject a failure."""
    app = FastAPI()
    app.state.calls = []
    app.state.fault = None

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": MODEL, "object": "model"}]}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        body = await request.json()
        app.state.calls.append(body)
        fault = app.state.fault
        if fault == "500":
            return _error(500, "internal error", "server_error")
        if fault == "429":
            return _error(429, "slow down", "rate_limit_error", {"Retry-After": "3"})
        if fault == "stall":
            await asyncio.sleep(STALL_S)
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        if fault == "too-long" and any(len(text.split()) > 50 for text in texts):
            return _error(
                400, "This model's maximum context length is 50 tokens", "invalid_request_error"
            )
        vectors = bag_of_words(texts)
        as_base64 = body.get("encoding_format") == "base64" and fault != "floats"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode()
                if as_base64
                else v.tolist(),
            }
            for i, v in enumerate(vectors)
        ]
        tokens = sum(len(text.split()) for text in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data[::-1],  # out of order on purpose: clients must sort by index
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return app


def _error(status: int, message: str, kind: str, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)
