"""The one registry of workflows that every surface serves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph._internal._constants import CONFIG_KEY_DURABILITY
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Durability
from pydantic import BaseModel

from graphs import agent, ingest, rag, rag_chat
from graphs.agent.graph import build_graph as build_agent
from graphs.deps import GraphDeps
from graphs.ingest.graph import build_graph as build_ingest
from graphs.ingest.state import IngestRequest, IngestResult
from graphs.rag.graph import build_graph as build_rag
from graphs.rag.state import RagAnswer, RagRequest
from graphs.rag_chat.graph import build_graph as build_rag_chat
from graphs.rag_chat.state import ChatReply, ChatRequest, RagChatRequest

GraphBuilder = Callable[..., CompiledStateGraph[Any, Any, Any, Any]]

DURABILITY: Durability = "sync"
"""Each step's checkpoint is written before the next step starts, so a process killed
mid-run resumes after the last completed step (docs/architecture.md, "Failure behaviour").
LangGraph's default, `async`, writes it while the next step runs: a crash can lose it."""


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
    langserve: bool = True
    """LangServe can describe its input and output (a graph of the operator's own whose
    schema pydantic cannot render is served on the other surfaces only)."""
    origin: str = "built-in"
    """Where it comes from: `built-in`, `ORCA_GRAPHS`, or the project's config file."""
    context_schema: Any = None
    """The graph's own context schema (the operator's graphs; built-ins use `Context`)."""
    run_input_type: type[BaseModel] | None = None
    """What a new run's input must fit on every surface (the run policy checks it, 422).
    None: the graph takes what it is sent, as LangGraph's own server does; so do the chat
    workflows, whose messages arrive in every shape the clients have (LangGraph reads them)."""


REGISTRY: dict[str, WorkflowSpec] = {
    spec.name: spec
    for spec in (
        WorkflowSpec(
            name="rag",
            description="Answer a question from the knowledge base, with the passages used.",
            build=build_rag,
            request_type=RagRequest,
            response_type=RagAnswer,
            run_input_type=RagRequest,
        ),
        WorkflowSpec(
            name="rag-chat",
            description="rag as a chat: the last user message is the question.",
            build=build_rag_chat,
            request_type=RagChatRequest,
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
            run_input_type=IngestRequest,
        ),
    )
}


def build_all(
    deps: GraphDeps,
    checkpointer: BaseCheckpointSaver[str] | None,
    registry: dict[str, WorkflowSpec] | None = None,
) -> dict[str, CompiledStateGraph[Any, Any, Any, Any]]:
    """Compile every workflow of `registry` (default: the built-ins) over one checkpointer."""
    return {
        name: durable(spec.build(deps=deps, checkpointer=checkpointer))
        for name, spec in (REGISTRY if registry is None else registry).items()
    }


def durable(
    graph: CompiledStateGraph[Any, Any, Any, Any],
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Return the graph with `DURABILITY` as its default.

    The surfaces call `astream`/`astream_events` without a `durability=` argument
    (LangServe and ag-ui-langgraph have none to pass); LangGraph reads the default from
    the graph's config, under its (internal) configurable key.
    """
    return graph.with_config({"configurable": {CONFIG_KEY_DURABILITY: DURABILITY}})


__all__ = [
    "DURABILITY",
    "REGISTRY",
    "WorkflowSpec",
    "agent",
    "build_all",
    "durable",
    "ingest",
    "rag",
    "rag_chat",
]
