"""The embedding provider's calls through its upstream's guard, answering in OpenAI's envelope.

`GuardedEmbedder` is an `Embedder` like the one it wraps. `embed` goes through the guard;
`describe` and `ping` do not: the gateway asks `describe` on every request (the provider
caches it), and neither it nor a health check may queue behind a flood of embedding calls
for a bulkhead slot, or be refused by an open circuit. Failures leave
as the `ApiError`s the gateway and `/v1/embeddings` speak: an open circuit is a 503 with
the time until the next probe as `Retry-After`.
"""

from __future__ import annotations

from server.embeddings import errors
from server.embeddings.errors import ApiError
from server.embeddings.provider import Embedded, Embedder, ModelInfo
from server.resilience.errors import UpstreamError, UpstreamTimeout
from server.resilience.guard import Guard


class GuardedEmbedder:
    """Delegate to `inner`, with its provider calls retried, broken and bounded by `guard`."""

    def __init__(self, inner: Embedder, guard: Guard) -> None:
        self.inner = inner
        self.guard = guard
        self.label = inner.label
        self.max_concurrency = inner.max_concurrency
        self.min_busy_batch = inner.min_busy_batch

    async def describe(self) -> ModelInfo:
        """Return the model's identity (the provider asks its server once, then caches it)."""
        return await self.inner.describe()

    async def embed(self, texts: list[str]) -> Embedded:
        """Embed in one logical provider call (possibly several attempts)."""
        try:
            return await self.guard.call(lambda: self.inner.embed(texts))
        except UpstreamError as exc:
            raise as_api_error(exc, f"the embedding provider {self.label}") from exc

    async def ping(self) -> None:
        """Ask the provider directly: health checks bypass the bulkhead and the circuit."""
        await self.inner.ping()

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()


def as_api_error(exc: UpstreamError, what: str) -> ApiError:
    """Return the OpenAI-envelope error for a guard's failure."""
    if isinstance(exc, UpstreamTimeout):
        error = errors.upstream_timeout(what, 0)
        return error.with_message(f"{what} did not answer in time: {exc.detail}")
    return errors.upstream_unavailable(what, exc.detail, retry_after=exc.retry_after or 5.0)
