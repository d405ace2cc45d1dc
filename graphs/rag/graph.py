"""The `rag` workflow: question → retrieve → generate."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.context import Context
from graphs.deps import GraphDeps
from graphs.rag.prompts import NOTHING_FOUND, SYSTEM_PROMPT
from graphs.rag.state import RagInput, RagOutput, RagState
from nodes.generate import make_generate
from nodes.retrieve import make_retrieve


def build_graph(
    *, deps: GraphDeps, checkpointer: BaseCheckpointSaver[str] | None = None
) -> CompiledStateGraph[RagState, Context, RagInput, RagOutput]:
    """Compile the rag graph over the given models and knowledge base."""
    builder = StateGraph(
        RagState, context_schema=Context, input_schema=RagInput, output_schema=RagOutput
    )
    builder.add_node("retrieve", make_retrieve(deps.models, deps.knowledge_base))
    builder.add_node(
        "generate",
        make_generate(deps.models, system_prompt=SYSTEM_PROMPT, nothing_found=NOTHING_FOUND),
    )
    builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", "generate")
    builder.add_edge("generate", END)
    return builder.compile(checkpointer=checkpointer, name="rag")
