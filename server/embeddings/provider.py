"""What every embedding provider offers the gateway, and the helpers they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]
"""A C-contiguous `(n, dimensions)` float32 matrix, one row per input."""


@dataclass(frozen=True)
class ModelInfo:
    """What the provider says about its model; `identity` names everything that shapes a vector."""

    provider: str
    """`local`, `ollama` or `openai`."""
    model: str
    version: str
    """Ollama's digest, a package version, or the configured version tag."""
    dimensions: int
    """The native vector size."""
    truncate: bool
    """Over-long inputs are cut (True) or refused (False)."""
    max_input_tokens: int | None = None

    @property
    def identity(self) -> str:
        """Return the cache namespace: provider, model, version, size and truncation mode."""
        limit = self.max_input_tokens or "native"
        mode = "truncate" if self.truncate else "strict"
        return f"{self.provider}|{self.model}|{self.version}|dims={self.dimensions}|{mode}:{limit}"


@dataclass(frozen=True)
class Embedded:
    """A provider's answer: unit vectors in input order and each input's token count."""

    vectors: Vectors
    tokens: list[int]


class Embedder(Protocol):
    """An embedding provider: one model, vectors L2-normalised, rows in input order."""

    label: str
    """`provider:model`, for health checks and logs."""
    max_concurrency: int
    """Calls the provider can usefully run at once."""
    min_busy_batch: int
    """Inputs a call should carry while another is in flight: 1 for a server; for a model in
    this process, the batch under which a pass costs about what one at this size does."""

    async def describe(self) -> ModelInfo:
        """Return the model's identity and size (may ask the provider; cached by the caller)."""
        ...

    async def embed(self, texts: list[str]) -> Embedded:
        """Embed texts in one provider call.

        Raises:
            InputsRefused: for inputs the model refuses, naming them.
            ApiError: 400 for a refusal the provider does not attribute,
                502/503/504 when the provider fails.
        """
        ...

    async def ping(self) -> None:
        """Raise if the provider cannot be reached."""
        ...

    async def aclose(self) -> None:
        """Release connections and in-process models."""
        ...


def unit_rows(vectors: Vectors) -> Vectors:
    """Return the rows scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.maximum(norms, np.float32(1e-12), out=norms)
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


def apportion(total: int, texts: list[str]) -> list[int]:
    """Split a batch's token total over its inputs by length; the shares sum to `total`.

    Ollama and OpenAI-compatible servers report one total per call; the gateway needs a
    count per input to answer `usage` for cached inputs, so it estimates by characters.
    """
    if not texts:
        return []
    weights = np.array([max(len(text), 1) for text in texts], dtype=np.float64)
    exact = weights / weights.sum() * max(total, 0)
    shares = np.floor(exact).astype(np.int64)
    remainder = int(max(total, 0) - shares.sum())
    if remainder:
        shares[np.argsort(shares - exact)[:remainder]] += 1
    return [int(share) for share in shares]
