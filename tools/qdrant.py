"""Open the Qdrant client: a remote server by URL, or local mode on disk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from qdrant_client import AsyncQdrantClient


@asynccontextmanager
async def open_qdrant(
    *, url: str | None, api_key: str | None, path: Path, timeout_s: float = 10.0
) -> AsyncIterator[AsyncQdrantClient]:
    """Yield a Qdrant client and close it on exit.

    Local mode keeps its collections under `path` and locks that directory to one
    process, which is why the CLI talks to the running server instead of opening it.
    """
    if url:
        client = AsyncQdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))
    else:
        await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
        client = AsyncQdrantClient(path=str(path))
    try:
        yield client
    finally:
        await client.close()
