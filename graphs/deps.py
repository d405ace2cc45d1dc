"""What graphs are built with: the process's models and stores, injected by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from nodes.catalog import ModelCatalog
from tools.knowledge_base import KnowledgeBase


@dataclass(frozen=True, kw_only=True)
class GraphDeps:
    """Long-lived dependencies shared by every run of every graph."""

    models: ModelCatalog
    knowledge_base: KnowledgeBase
    chunk_size: int = 800
    chunk_overlap: int = 100
    embedding_batch_size: int = 64
