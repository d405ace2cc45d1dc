"""The one registry of workflows that every surface serves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel

from graphs import agent, ingest, rag, rag_chat
from graphs.agent.graph import build_graph as build_agent
from graphs.deps import GraphDeps
from graphs.ingest.graph import build_graph as build_ingest
from graphs.ingest.state import IngestRequest, IngestResult
from graphs.rag.graph import build_graph as build_rag
from graphs.rag.state import RagAnswer, RagRequest
from graphs.rag_chat.graph import build_graph as build_rag_chat
from graphs.rag_chat.state import ChatReply, ChatRequest

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
    chat: bool = False
    """Its input is `messages`, so chat frontends (the AG-UI endpoint) can serve it."""


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
            name="rag-chat",
            description="rag as a chat: the last user message is the question.",
            build=build_rag_chat,
            request_type=ChatRequest,
            response_type=ChatReply,
            chat=True,
        ),
        WorkflowSpec(
            name="agent",
            description=(
                "A tool-calling agent: searches the knowledge base, saves notes after a "
                "person approves, and calls the frontend's tools."
            ),
            build=build_agent,
            request_type=ChatRequest,
            response_type=ChatReply,
            chat=True,
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


__all__ = ["REGISTRY", "WorkflowSpec", "agent", "build_all", "ingest", "rag", "rag_chat"]
