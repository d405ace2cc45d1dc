"""Ollama's `/api/embed` behind the `Embedder` protocol.

`/api/embed` (not the legacy `/api/embeddings`, which does not normalise) returns unit
vectors and one `prompt_eval_count` per call. The model's size, context length and
embedding capability come from `/api/show`, its digest from `/api/tags`; the digest is part
of the cache key, because `ollama pull` can move a tag to other weights.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import ollama

from server.embeddings import errors
from server.embeddings.provider import Embedded, ModelInfo, apportion, unit_rows
from server.shown_url import shown_url

DESCRIBE_TTL_S = 60.0
"""How long a digest is trusted before `/api/tags` is asked again."""


class OllamaEmbedder:
    """One Ollama embedding model, called through the official `ollama` client."""

    def __init__(
        self,
        client: ollama.AsyncClient,
        model: str,
        *,
        url: str,
        timeout_s: float,
        truncate: bool = False,
        max_input_tokens: int | None = None,
        max_concurrency: int = 4,
    ) -> None:
        self.client = client
        self.model = model
        self.url = url
        self.timeout_s = timeout_s
        self.truncate = truncate
        self.max_input_tokens = max_input_tokens
        self.max_concurrency = max_concurrency
        self.min_busy_batch = 1
        self.label = f"ollama:{model}"
        self._info: ModelInfo | None = None
        self._described_at = 0.0

    @property
    def _what(self) -> str:
        return f"Ollama at {shown_url(self.url)}"

    async def describe(self) -> ModelInfo:
        """Return the model's identity, asking Ollama at most once a minute."""
        if self._info and time.monotonic() - self._described_at < DESCRIBE_TTL_S:
            return self._info
        try:
            show = await self.client.show(self.model)
            tags = await self.client.list()
        except Exception as exc:
            if self._info:  # keep serving with what we knew
                return self._info
            raise self._translate(exc) from exc
        capabilities = list(show.capabilities or [])
        if capabilities and "embedding" not in capabilities:
            raise errors.upstream_failed(
                self._what, f"model {self.model!r} is not an embedding model ({capabilities})"
            )
        info: dict[str, Any] = dict(show.modelinfo or {})
        dimensions = _model_number(info, "embedding_length")
        if dimensions is None:
            dimensions = len((await self._call([" "])).vectors[0])
        self._info = ModelInfo(
            provider="ollama",
            model=self.model,
            version=_digest(tags, self.model),
            dimensions=dimensions,
            truncate=self.truncate,
            max_input_tokens=self.max_input_tokens or _model_number(info, "context_length"),
        )
        self._described_at = time.monotonic()
        return self._info

    async def embed(self, texts: list[str]) -> Embedded:
        """Embed in one `/api/embed` call; Ollama's own 400s are the caller's."""
        return await self._call(texts)

    async def _call(self, texts: list[str]) -> Embedded:
        options = {"num_ctx": self.max_input_tokens} if self.max_input_tokens else None
        try:
            response = await self.client.embed(
                model=self.model, input=texts, truncate=self.truncate, options=options
            )
        except Exception as exc:
            raise self._translate(exc) from exc
        vectors = np.asarray(response.embeddings, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise errors.upstream_failed(
                self._what, f"{len(vectors)} embeddings for {len(texts)} inputs"
            )
        total = int(response.prompt_eval_count or 0)
        return Embedded(vectors=unit_rows(vectors), tokens=apportion(total, texts))

    def _translate(self, exc: Exception) -> errors.ApiError:
        error = self._explain(exc)
        if isinstance(exc, ollama.ResponseError):
            error.upstream_status = exc.status_code  # for the retry policy
        return error

    def _explain(self, exc: Exception) -> errors.ApiError:
        if isinstance(exc, ollama.ResponseError):
            message = str(exc.error)
            if exc.status_code == 400 and "context length" in message:
                return errors.context_length_exceeded(f"Ollama refused the input: {message}")
            if exc.status_code == 400:
                return errors.invalid(f"Ollama refused the input: {message}", param="input")
            if exc.status_code in (429, 503):
                return errors.upstream_unavailable(self._what, message)
            return errors.upstream_failed(self._what, f"{exc.status_code} {message}")
        if isinstance(exc, httpx.TimeoutException):
            return errors.upstream_timeout(self._what, self.timeout_s)
        if isinstance(exc, httpx.TransportError | ConnectionError):
            return errors.upstream_unavailable(self._what, type(exc).__name__)
        return errors.upstream_failed(self._what, f"{type(exc).__name__}: {exc}")

    async def ping(self) -> None:
        """Ask Ollama for its version."""
        response = await self.client._client.get("/api/version")
        response.raise_for_status()

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await self.client._client.aclose()  # ollama.AsyncClient has no close()


def _model_number(info: dict[str, Any], suffix: str) -> int | None:
    """Return `<arch>.<suffix>` from `/api/show`'s model_info."""
    for key, value in info.items():
        if key.endswith(f".{suffix}") and isinstance(value, int):
            return value
    return None


def _digest(tags: Any, model: str) -> str:
    """Return the digest `/api/tags` lists for the model (`name` and `name:latest` match)."""
    wanted = {model, f"{model}:latest"} if ":" not in model else {model}
    for entry in tags.models or []:
        if entry.model in wanted:
            return str(entry.digest)
    return "unknown"
