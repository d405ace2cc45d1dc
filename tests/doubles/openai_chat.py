"""An OpenAI-compatible chat-completions server (LLM-01 or LLM-02) for tests, with faults.

Each request takes the next fault from `app.state.script` (a list), or `app.state.fault`
once the script is used up:
- None: answer `"<name> says: <last user message>"`, streamed word by word when asked
  (a first chunk with only the role, as vLLM sends);
- `"500"`, `"400"`: an error in OpenAI's envelope;
- `"429"`: with `Retry-After: app.state.retry_after`;
- `"reset"`: the status line and headers, then the connection drops mid-body;
- `"stall"`: nothing at all for `STALL_S` (longer than the tests' timeouts), then an answer;
- `"stall-mid"`: a streamed answer's first two words, then nothing for `STALL_S`.
`app.state.calls` records every request body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

STALL_S = 3.0


class DroppedConnection(Exception):
    """Raised mid-body: uvicorn closes the connection without finishing the response."""


def create_openai_chat_double(name: str) -> FastAPI:
    """Return the double; its answers start with `name`."""
    app = FastAPI()
    app.state.calls = []
    app.state.script = []
    app.state.fault = None
    app.state.retry_after = "1"

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Response:
        body = await request.json()
        app.state.calls.append(body)
        fault = app.state.script.pop(0) if app.state.script else app.state.fault
        if fault == "500":
            return _error(500, "the model crashed", "server_error")
        if fault == "400":
            return _error(400, "bad request", "invalid_request_error")
        if fault == "429":
            headers = {"Retry-After": app.state.retry_after}
            return _error(429, "slow down", "rate_limit_error", headers)
        if fault == "stall":
            await asyncio.sleep(STALL_S)
        words = f"{name} says: {_last_user_message(body)}".split(" ")
        if fault == "reset":
            return StreamingResponse(_dropped(), media_type="application/json")
        if body.get("stream"):
            stream = _chunks(body["model"], words, stall_after=2 if fault == "stall-mid" else None)
            return StreamingResponse(stream, media_type="text/event-stream")
        return JSONResponse(_completion(body["model"], " ".join(words)))

    return app


def _last_user_message(body: dict[str, Any]) -> str:
    users = [m for m in body["messages"] if m["role"] == "user"]
    content = users[-1]["content"] if users else ""
    return content if isinstance(content, str) else json.dumps(content)


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-double",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }


async def _chunks(model: str, words: list[str], stall_after: int | None) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-double",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    for i, word in enumerate(words):
        if stall_after is not None and i == stall_after:
            await asyncio.sleep(STALL_S)
        yield chunk({"content": word if i == 0 else f" {word}"})
    yield chunk({}, "stop")
    yield b"data: [DONE]\n\n"


async def _dropped() -> AsyncIterator[bytes]:
    yield b'{"id": "chatcmpl-double", "choi'
    raise DroppedConnection("the double drops the connection")


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)
