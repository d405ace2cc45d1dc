"""The one registry of workflows that every surface serves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel

from graphs import ingest, rag
from graphs.deps import GraphDeps
from graphs.ingest.graph import build_graph as build_ingest
from graphs.ingest.state import IngestRequest, IngestResult
from graphs.rag.graph import build_graph as build_rag
from graphs.rag.state import RagAnswer, RagRequest

GraphBuilder = Callable[..., CompiledStateGraph[Any, Any, Any, Any]]


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow as the surfaces see it."""

    name: str
    description: str
    build: GraphBuilder
    """`build(deps=GraphDeps, checkpointer=...) -> CompiledStateGraph`."""
    request_type: type[BaseModel]
    """Validated input body (LangServe answers 422 when it does not fit)."""
    response_type: type[BaseModel]


REGISTRY: dict[str, WorkflowSpec] = {
    spec.name: spec
    for spec in (
        WorkflowSpec(
            name="rag",
            description="Answer a question from the knowledge base, with the passages used.",
            build=build_rag,
            request_type=RagRequest,
            response_type=RagAnswer,
        ),
        WorkflowSpec(
            name="ingest",
            description="Split texts or server-side files, embed the chunks and store them.",
            build=build_ingest,
            request_type=IngestRequest,
            response_type=IngestResult,
        ),
    )
}


def build_all(
    deps: GraphDeps, checkpointer: BaseCheckpointSaver[str] | None
) -> dict[str, CompiledStateGraph[Any, Any, Any, Any]]:
    """Compile every registered workflow over the same dependencies and checkpointer."""
    return {
        name: spec.build(deps=deps, checkpointer=checkpointer) for name, spec in REGISTRY.items()
    }


__all__ = ["REGISTRY", "WorkflowSpec", "build_all", "ingest", "rag"]
