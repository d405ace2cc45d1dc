"""An in-process embedding provider for unit tests: it counts calls and can be held or failed.

Vectors are the Ollama double's hashed bag of words (64-d, unit length), so texts that
share words are near each other and each text has its own vector.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import numpy as np

from server.embeddings.errors import ApiError
from server.embeddings.provider import Embedded, ModelInfo
from server.settings import Settings
from tests.doubles.ollama import DIMENSIONS, embed


def bag_of_words(texts: list[str]) -> np.ndarray:
    """Return the double's vectors for texts, as float32 rows."""
    return np.asarray([embed(text) for text in texts], dtype=np.float32)


class CountingEmbedder:
    """Records every batch it is asked for; `gate` holds calls, `fail` raises per call."""

    label = "fake:bag-of-words"

    def __init__(self, *, max_concurrency: int = 4, version: str = "1") -> None:
        self.max_concurrency = max_concurrency
        self.min_busy_batch = 1
        self.version = version
        self.batches: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.fail: Callable[[list[str]], ApiError | None] | None = None
        self.running = 0
        self.most_running = 0
        self.closed = False

    @property
    def texts(self) -> list[str]:
        """Return every text embedded, in call order."""
        return [text for batch in self.batches for text in batch]

    async def describe(self) -> ModelInfo:
        return ModelInfo("fake", "bag-of-words", self.version, DIMENSIONS, truncate=False)

    async def embed(self, texts: list[str]) -> Embedded:
        self.batches.append(list(texts))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            error = self.fail(texts) if self.fail else None
            if error is not None:
                raise error
            return Embedded(bag_of_words(texts), [len(text.split()) + 2 for text in texts])
        finally:
            self.running -= 1

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self.closed = True


def fake_embedder(
    embedder: CountingEmbedder | None = None,
) -> Callable[[Settings], AbstractAsyncContextManager[CountingEmbedder]]:
    """Return an opener for `create_app(embedder=...)` that yields the counting double."""

    @asynccontextmanager
    async def open_fake(settings: Settings) -> AsyncIterator[CountingEmbedder]:
        yield embedder or CountingEmbedder()

    return open_fake
