"""Embed the question and fetch the nearest passages of the run's tenant."""

from __future__ import annotations

from collections.abc import Awaitable

from langgraph.runtime import Runtime

from nodes.catalog import ModelCatalog
from nodes.context import Context
from nodes.node import Node
from nodes.state import RetrieveState, RetrieveUpdate, Source
from tools.knowledge_base import KnowledgeBase

MAX_QUERY_CHARS = 2000
"""A longer query is searched by its beginning: an embedding model reads only so much (MiniLM
256 tokens, about 1,000 characters) and the gateway refuses an input far past its limit, so
a chat message of 9,000 characters failed its run at the search instead of being answered."""


async def search_passages(
    models: ModelCatalog, knowledge_base: KnowledgeBase, context: Context, query: str
) -> list[Source]:
    """Return the run's top-k passages for `query`, from its tenant's documents only."""
    embeddings = models.embedding_model(context.embedding_model)
    vector = await embeddings.aembed_query(query[:MAX_QUERY_CHARS])
    passages = await knowledge_base.search(
        context.collection, context.tenant, vector, context.top_k
    )
    return [{"source": p.source, "text": p.text, "score": round(p.score, 6)} for p in passages]


def make_retrieve(
    models: ModelCatalog, knowledge_base: KnowledgeBase
) -> Node[RetrieveState, Awaitable[RetrieveUpdate]]:
    """Return the `retrieve` node bound to the process's models and knowledge base."""

    async def retrieve(state: RetrieveState, runtime: Runtime[Context]) -> RetrieveUpdate:
        """Return the top-k passages for `state["question"]` as `sources`."""
        sources = await search_passages(models, knowledge_base, runtime.context, state["question"])
        return {"sources": sources}

    return retrieve
