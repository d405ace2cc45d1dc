"""Embed the question and fetch the nearest passages of the run's tenant."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.deps import GraphDeps


def make_retrieve(deps: GraphDeps) -> Any:
    """Return the `retrieve` node bound to the process's models and knowledge base."""

    async def retrieve(state: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
        """Return the top-k passages for `state["question"]` as `sources`."""
        context = runtime.context
        embeddings = deps.models.embedding_model(context.embedding_model)
        vector = await embeddings.aembed_query(state["question"])
        passages = await deps.knowledge_base.search(
            context.collection, context.tenant, vector, context.top_k
        )
        return {
            "sources": [
                {"source": p.source, "text": p.text, "score": round(p.score, 6)} for p in passages
            ]
        }

    return retrieve
