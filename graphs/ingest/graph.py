"""The `ingest` workflow: load → split → store (embed in batches, upsert)."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.context import Context
from graphs.deps import GraphDeps
from graphs.ingest.nodes import make_load, make_split, make_store
from graphs.ingest.state import IngestInput, IngestOutput, IngestState


def build_graph(
    *, deps: GraphDeps, checkpointer: BaseCheckpointSaver[str] | None = None
) -> CompiledStateGraph[IngestState, Context, IngestInput, IngestOutput]:
    """Compile the ingest graph over the given models and knowledge base."""
    builder = StateGraph(
        IngestState, context_schema=Context, input_schema=IngestInput, output_schema=IngestOutput
    )
    builder.add_node("load", make_load(deps))
    builder.add_node("split", make_split(deps))
    builder.add_node("store", make_store(deps))
    builder.add_edge(START, "load")
    builder.add_edge("load", "split")
    builder.add_edge("split", "store")
    builder.add_edge("store", END)
    return builder.compile(checkpointer=checkpointer, name="ingest")
