"""Everything the lifespan opens, handed to handlers through `server.deps`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from qdrant_client import AsyncQdrantClient

from checkpoints import CheckpointStore
from nodes.catalog import ModelCatalog
from server.auth.setup import AuthServices
from server.embeddings.gateway import EmbeddingGateway
from server.resilience.upstreams import Upstreams
from server.run_policy import RunPolicy
from server.runs.service import RunsService
from server.settings import Settings
from server.store.open import MemoryStore
from tools.knowledge_base import KnowledgeBase


@dataclass
class Resources:
    """The process's open clients and compiled graphs."""

    settings: Settings
    checkpoints: CheckpointStore
    qdrant: AsyncQdrantClient
    knowledge_base: KnowledgeBase
    models: ModelCatalog
    embeddings: EmbeddingGateway
    auth: AuthServices
    policy: RunPolicy
    """What callers may set and send for a run, on every surface."""
    graphs: dict[str, CompiledStateGraph[Any, Any, Any, Any]] = field(default_factory=dict)
    upstreams: Upstreams | None = None
    """The guards (circuit, bulkhead, retries) of the chat, embedding and Qdrant servers."""
    runs: RunsService | None = None
    """The threads-and-runs API: its store, event log and this process's workers."""
    store: MemoryStore | None = None
    """Long-term memory (`/store/*`, and every graph's `runtime.store`)."""
