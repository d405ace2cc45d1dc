"""The embedding gateway: dedupe, cache, batch, and put every vector back at its index.

One request's texts are deduplicated, looked up in L1 then L2, and only the misses go to
the batcher. The answer is assembled by position from a key per input, never by the order
in which layers or the provider answered (the partial-hit bug class of LiteLLM #29284 and
#41002). `usage.prompt_tokens` counts every input, cached or not, from the token count
stored with its vector: the same request always reports the same usage.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from server.embeddings import errors
from server.embeddings.batcher import FailedInput, MicroBatcher, Results
from server.embeddings.cache import CachedVector, CacheStats, MemoryCache, PostgresCache, cache_key
from server.embeddings.errors import ApiError
from server.embeddings.provider import Embedder, ModelInfo, Vectors, unit_rows

log = logging.getLogger("orca.embeddings")

CacheStatus = Literal["hit", "miss", "partial"]


@dataclass(frozen=True)
class EmbeddingResult:
    """Vectors in input order, the request's token count, and how the cache served it."""

    vectors: Vectors
    prompt_tokens: int
    hits: int
    """Distinct inputs served from a cache layer."""
    misses: int
    """Distinct inputs computed (or joined while being computed) for this request."""
    identity: str = ""
    """The model that made the vectors (`ModelInfo.identity`): the fallback's when it answered."""

    @property
    def cache_status(self) -> CacheStatus:
        """Return `hit`, `miss` or `partial`, for the `X-Cache` header."""
        if self.misses == 0:
            return "hit"
        return "miss" if self.hits == 0 else "partial"


class GatewayObserver:
    """Hooks for metrics; this base class ignores everything."""

    def inputs(self, count: int) -> None:
        """Count inputs asked of the gateway."""

    def cache(self, layer: str, result: str, count: int) -> None:
        """Count cache lookups of a layer (`l1`, `l2`) by result (`hit`, `miss`, `error`)."""

    def batch(self, size: int) -> None:
        """Record the size of one provider call."""


@dataclass(frozen=True)
class BatchLimits:
    """How the batcher may use the provider."""

    max_batch: int = 64
    max_concurrency: int = 4
    max_wait_s: float = 0.0
    max_queue: int = 16384
    queue_timeout_s: float = 30.0


CHARS_PER_TOKEN_CEILING = 32
"""Characters one token can stand for, at most, in any text worth embedding (English averages
about 4): an input over `max_input_tokens` times this is over the limit without tokenizing it,
which for a 7 MB input took 7-18 s of CPU and 1.4 GB before it was refused."""
UNKNOWN_LIMIT_TOKENS = 8192
"""The token limit assumed for a model that does not report one (the ceiling only)."""


def bounded_texts(texts: list[str], info: ModelInfo) -> list[str]:
    """Refuse (or, for a truncating model, cut) inputs too long to tokenize, by length alone.

    Raises:
        ApiError: 400 `context_length_exceeded` naming the first input over the ceiling.
    """
    ceiling = (info.max_input_tokens or UNKNOWN_LIMIT_TOKENS) * CHARS_PER_TOKEN_CEILING
    if all(len(text) <= ceiling for text in texts):
        return texts
    if info.truncate:
        return [text[:ceiling] for text in texts]
    first = next(i for i, text in enumerate(texts) if len(text) > ceiling)
    raise errors.context_length_exceeded(
        f"input[{first}] has {len(texts[first])} characters: more than this model's limit of "
        f"{info.max_input_tokens or UNKNOWN_LIMIT_TOKENS} tokens can hold (at most {ceiling} "
        "characters are even measured). Shorten it, or split it into several inputs."
    )


class EmbeddingGateway:
    """One embedding model under one or more aliases, with its caches and batcher."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        aliases: list[str],
        truncatable: bool = False,
        memory: MemoryCache | None = None,
        shared: PostgresCache | None = None,
        limits: BatchLimits | None = None,
        observer: GatewayObserver | None = None,
        fallback: Embedder | None = None,
    ) -> None:
        limits = limits or BatchLimits()
        self.observer = observer or GatewayObserver()
        self.embedder = embedder
        self.fallback = fallback
        """A second provider that answers whole requests while this one fails."""
        self.fallbacks = 0
        """Requests the fallback answered."""
        self.aliases = list(dict.fromkeys(aliases))
        self.truncatable = truncatable
        self.memory = memory or MemoryCache(0)
        self.shared = shared
        self.stats = shared.stats if shared else CacheStats()
        self.batcher = self._batcher(embedder, limits)
        self.fallback_batcher = self._batcher(fallback, limits) if fallback else None
        self._writes: set[asyncio.Task[None]] = set()
        self._dimensions: int | None = None

    def _batcher(self, embedder: Embedder, limits: BatchLimits) -> MicroBatcher:
        return MicroBatcher(
            embedder,
            on_computed=self._store,
            max_batch=limits.max_batch,
            max_concurrency=min(limits.max_concurrency, embedder.max_concurrency),
            max_wait_s=limits.max_wait_s,
            max_queue=limits.max_queue,
            queue_timeout_s=limits.queue_timeout_s,
            on_batch=self.observer.batch,
        )

    def check_model(self, model: str) -> None:
        """Raise OpenAI's 404 unless `model` is one of this gateway's aliases."""
        if model not in self.aliases:
            raise errors.model_not_found(model, self.aliases)

    async def describe(self) -> ModelInfo:
        """Return the model's identity and native size."""
        info = await self.embedder.describe()
        self._dimensions = info.dimensions
        return info

    async def embed(
        self,
        texts: list[str],
        *,
        dimensions: int | None = None,
        use_cache: bool = True,
        scope: str = "",
    ) -> EmbeddingResult:
        """Embed `texts`; row i of the result is the vector of `texts[i]`.

        A whole request is answered by one model: when the provider fails (5xx, or its
        circuit is open) and a fallback is configured, the fallback embeds every input,
        under cache keys of its own identity. `scope` keeps cached vectors to the callers
        that share it (see `cache_scope`); the workflows' own embeddings use none.

        Raises:
            ApiError: 400 for a bad `dimensions` or a refused input (naming its index),
                503/504/502 when the provider (and the fallback) is overloaded, down or failing.
        """
        self.observer.inputs(len(texts))
        try:
            return await self._embed(
                self.embedder, self.batcher, texts, dimensions, use_cache, scope
            )
        except ApiError as failure:
            if self.fallback is None or self.fallback_batcher is None:
                raise
            if failure.status < 500 or failure.code == "server_overloaded":
                raise
            info = await self.fallback.describe()
            if self._dimensions is not None and info.dimensions != self._dimensions:
                # Vectors of another size would break every collection built so far.
                log.error(
                    "embedding fallback gives %d-d vectors, not %d: not used",
                    info.dimensions,
                    self._dimensions,
                )
                raise
            log.warning("embedding provider failed (%s); the fallback answers", failure.message)
            self.fallbacks += 1
            return await self._embed(
                self.fallback, self.fallback_batcher, texts, dimensions, use_cache, scope
            )

    async def _embed(
        self,
        embedder: Embedder,
        batcher: MicroBatcher,
        texts: list[str],
        dimensions: int | None,
        use_cache: bool,
        scope: str,
    ) -> EmbeddingResult:
        info = await embedder.describe()
        if embedder is self.embedder:
            self._dimensions = info.dimensions
        self._check_dimensions(info, dimensions)
        texts = bounded_texts(texts, info)
        if not texts:
            empty = np.zeros((0, dimensions or info.dimensions), dtype=np.float32)
            return EmbeddingResult(vectors=empty, prompt_tokens=0, hits=0, misses=0)
        unique = list(dict.fromkeys(texts))
        position = {text: i for i, text in enumerate(unique)}
        inverse = np.fromiter((position[text] for text in texts), dtype=np.intp, count=len(texts))
        space = f"{info.identity}\0{scope}" if scope else info.identity
        keys = [cache_key(space, text) for text in unique]
        found = await self._lookup(keys) if use_cache else {}
        hits = len(found)
        missing = {key: unique[i] for i, key in enumerate(keys) if key not in found}
        self.stats.misses += len(missing)
        try:
            found.update(await batcher.run(missing))
        except FailedInput as failure:
            raise self._explain(failure, keys, unique, texts) from None
        matrix = np.stack([found[key].vector for key in keys])
        tokens = np.fromiter((found[key].tokens for key in keys), dtype=np.int64, count=len(keys))
        vectors = matrix[inverse]
        if dimensions is not None and dimensions < info.dimensions:
            vectors = unit_rows(vectors[:, :dimensions])
        return EmbeddingResult(
            vectors=np.ascontiguousarray(vectors),
            prompt_tokens=int(tokens[inverse].sum()),
            hits=hits,
            misses=len(missing),
            identity=info.identity,
        )

    def _check_dimensions(self, info: ModelInfo, dimensions: int | None) -> None:
        if dimensions is None or dimensions == info.dimensions:
            return
        if dimensions < 1 or dimensions > info.dimensions:
            raise errors.invalid(
                f"dimensions must be between 1 and {info.dimensions} for this model "
                f"(got {dimensions})",
                param="dimensions",
            )
        if not self.truncatable:
            raise errors.invalid(
                "This model does not support specifying dimensions (it was not trained for "
                f"truncation); omit dimensions or ask for {info.dimensions}.",
                param="dimensions",
            )

    async def _lookup(self, keys: list[bytes]) -> dict[bytes, CachedVector]:
        found = self.memory.get_many(keys)
        self.stats.l1_hits += len(found)
        self.observer.cache("l1", "hit", len(found))
        self.observer.cache("l1", "miss", len(keys) - len(found))
        if self.shared and len(found) < len(keys):
            asked = [key for key in keys if key not in found]
            errors_before = self.stats.l2_errors
            shared = await self.shared.get_many(asked)
            self.stats.l2_hits += len(shared)
            failed = self.stats.l2_errors > errors_before
            self.observer.cache(
                "l2", "error" if failed else "hit", len(asked) if failed else len(shared)
            )
            self.observer.cache("l2", "miss", 0 if failed else len(asked) - len(shared))
            self.memory.put_many(shared)
            found.update(shared)
        return found

    def _store(self, results: Results) -> None:
        """Keep fresh vectors: L1 at once, L2 in the background (callers never wait)."""
        self.memory.put_many(results)
        if self.shared:
            write = asyncio.create_task(self.shared.put_many(results))
            self._writes.add(write)
            write.add_done_callback(self._writes.discard)

    @staticmethod
    def _explain(
        failure: FailedInput, keys: list[bytes], unique: list[str], texts: list[str]
    ) -> BaseException:
        error = failure.error
        if isinstance(error, ApiError) and error.status == 400:
            index = texts.index(unique[keys.index(failure.key)])
            return error.with_message(f"input[{index}]: {error.message}")
        return error

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for the shared-cache writes under way."""
        if self._writes:
            await asyncio.wait(self._writes, timeout=timeout_s)

    async def aclose(self) -> None:
        """Stop the batcher and finish the cache writes (the opener closes the provider)."""
        await self.batcher.aclose()
        if self.fallback_batcher is not None:
            await self.fallback_batcher.aclose()
        await self.drain()
