"""Run AG-UI requests in-process and read their SSE streams."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Streamed:
    """One AG-UI response: status, headers, raw body and parsed events."""

    status: int
    headers: httpx.Headers
    raw: bytes
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The last MESSAGES_SNAPSHOT's messages."""
        return self.of("MESSAGES_SNAPSHOT")[-1]["messages"]

    @property
    def text(self) -> str:
        """All streamed text, concatenated."""
        return "".join(event["delta"] for event in self.of("TEXT_MESSAGE_CONTENT"))


def user(text: str) -> dict[str, Any]:
    return {"id": f"u-{uuid.uuid4().hex[:8]}", "role": "user", "content": text}


def run_input(thread_id: str, messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "threadId": thread_id,
        "runId": f"r-{uuid.uuid4().hex[:8]}",
        "messages": messages,
        "tools": [],
        "context": [],
        "state": {},
        "forwardedProps": {},
        **extra,
    }


async def stream(client: httpx.AsyncClient, workflow: str, body: dict[str, Any]) -> Streamed:
    """POST a run and collect its frames."""
    async with client.stream("POST", f"/agui/{workflow}", json=body) as response:
        raw = b"".join([chunk async for chunk in response.aiter_bytes()])
    result = Streamed(response.status_code, response.headers, raw)
    if response.status_code == 200:
        for frame in raw.decode().split("\n\n"):
            if frame.startswith("data: "):
                result.events.append(json.loads(frame.removeprefix("data: ")))
    return result
