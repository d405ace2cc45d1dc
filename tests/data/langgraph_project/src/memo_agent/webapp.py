"""Custom routes served beside the agent (langgraph.json `http.app`)."""

from __future__ import annotations

import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/memo/about")
def about() -> dict[str, str]:
    """Say who serves the memos (MEMO_SIGNATURE from the project's env)."""
    return {"signature": os.environ.get("MEMO_SIGNATURE", "")}


@app.get("/health")
def health() -> dict[str, str]:
    """Clash with the server's own `/health`, which must win."""
    return {"from": "memo webapp"}
