"""A faithful stand-in for Ollama's embedding API, served on loopback in tests.

It follows what Ollama's `/api/embed` does (server/routes.go EmbedHandler): a string or a
list of strings in, L2-normalised vectors out, `prompt_eval_count` summed over inputs,
404 `model '<name>' not found` for an unknown model, 400 `invalid input type` for a
non-string element, an empty string giving no embedding, and with `truncate: false` a 400
`the input length exceeds the context length` (min of the model's context and `num_ctx`).
`/api/show` reports the size, context length and `embedding` capability; `/api/tags` the digest. Vectors are a hashed bag
of words, so texts that share words are near each other and retrieval means something.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

DIMENSIONS = 64
CONTEXT_TOKENS = 2048
WORD = re.compile(r"[a-z0-9]+")


def embed(text: str) -> list[float]:
    """Hash each lower-cased word into a bucket; return the L2-normalised counts."""
    vector = [0.0] * DIMENSIONS
    for word in WORD.findall(text.lower()):
        bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
        vector[bucket % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def create_ollama_double(models: tuple[str, ...] = ("nomic-embed-text",)) -> FastAPI:
    """Return the double; `app.state.calls` records every `/api/embed` body."""
    app = FastAPI()
    app.state.calls = []

    @app.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": "0.12.7"}

    @app.get("/api/tags")
    async def tags() -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": f"{m}:latest",
                    "model": f"{m}:latest",
                    "digest": hashlib.sha256(m.encode()).hexdigest(),
                }
                for m in models
            ]
        }

    @app.post("/api/show")
    async def show(request: Request) -> JSONResponse:
        body = await request.json()
        name = str(body.get("model", "")).removesuffix(":latest")
        if name not in models:
            return JSONResponse({"error": f"model '{body.get('model')}' not found"}, 404)
        return JSONResponse(
            {
                "capabilities": ["embedding"],
                "model_info": {
                    "general.architecture": "nomic-bert",
                    "nomic-bert.embedding_length": DIMENSIONS,
                    "nomic-bert.context_length": CONTEXT_TOKENS,
                },
            }
        )

    @app.post("/api/embed")
    async def api_embed(request: Request) -> JSONResponse:
        body = await request.json()
        app.state.calls.append(body)
        name = str(body.get("model", "")).removesuffix(":latest")
        if name not in models:
            return JSONResponse(
                {"error": f"model '{body.get('model')}' not found"}, status_code=404
            )
        raw = body.get("input", [])
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or any(not isinstance(i, str) for i in inputs):
            return JSONResponse({"error": "invalid input type"}, status_code=400)
        inputs = [text for text in inputs if text != ""]
        limit = min(CONTEXT_TOKENS, (body.get("options") or {}).get("num_ctx") or CONTEXT_TOKENS)
        too_long = any(_tokens(text) > limit for text in inputs)
        if too_long and body.get("truncate") is False:
            return JSONResponse({"error": "the input length exceeds the context length"}, 400)
        vectors = [embed(text) for text in inputs]
        dimensions = body.get("dimensions")
        if dimensions:
            vectors = [_renormalise(v[:dimensions]) for v in vectors]
        return JSONResponse(
            {
                "model": body["model"],
                "embeddings": vectors,
                "total_duration": 1_000_000,
                "load_duration": 100_000,
                "prompt_eval_count": sum(min(_tokens(t), limit) for t in inputs),
            }
        )

    return app


def _tokens(text: str) -> int:
    """Count a word as a token, plus BOS and EOS."""
    return len(WORD.findall(text.lower())) + 2


def _renormalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]
