"""A trivial OpenAI-compatible embeddings server: one fixed 384-d vector for every input.

The peer the embeddings benchmark puts every gateway in front of. A raw ASGI app with no
framework, so what it costs is close to the HTTP server's own floor.

    .venv/bin/python -m uvicorn evals.stub_embeddings:app --port 18001 --no-access-log
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson

DIMENSIONS = 384
_VECTOR = np.random.default_rng(7).standard_normal(DIMENSIONS).astype("<f4")
_VECTOR /= np.linalg.norm(_VECTOR)
_BASE64 = base64.b64encode(_VECTOR.tobytes()).decode()
_FLOATS = _VECTOR.tolist()
_MODELS = orjson.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]})
_HEADERS = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer `POST /v1/embeddings` and `GET /v1/models`."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["method"] == "GET":
        await _answer(send, _MODELS)
        return
    request = orjson.loads(body)
    inputs = request["input"]
    count = 1 if isinstance(inputs, str) else len(inputs)
    vector = _BASE64 if request.get("encoding_format") == "base64" else _FLOATS
    await _answer(
        send,
        orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": vector} for i in range(count)
                ],
                "model": request.get("model", "stub"),
                "usage": {"prompt_tokens": count, "total_tokens": count},
            }
        ),
    )


async def _answer(send: Any, payload: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": payload})
