"""What graphs are built with: the process's models and stores, injected by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from graphs.ingest.chunking import ChunkBudget
from nodes.catalog import ModelCatalog
from tools.knowledge_base import KnowledgeBase


@dataclass(frozen=True, kw_only=True)
class GraphDeps:
    """Long-lived dependencies shared by every run of every graph."""

    models: ModelCatalog
    knowledge_base: KnowledgeBase
    chunk_budget: ChunkBudget = ChunkBudget(size=800, overlap=100)
    """How long a chunk may be: in the embedding model's tokens when the lifespan builds it
    (`server.embeddings.chunking`); this default, in characters, is for fakes in tests."""
    embedding_batch_size: int = 64
    ingest_roots: tuple[Path, ...] = field(default_factory=tuple)
    """Folders whose files admins may ingest by server path (`ORCA_INGEST_ROOTS`)."""
