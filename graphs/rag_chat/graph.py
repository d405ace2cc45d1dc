"""The `rag-chat` workflow: `rag` shaped as a chat, for chat frontends (AG-UI).

    START → take_question → retrieve → generate → END

The input is the conversation; the last user message is the question. The answer is
appended to `messages`, and `sources` holds the passages it was drawn from.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.context import Context
from graphs.deps import GraphDeps
from graphs.rag.prompts import NOTHING_FOUND, SYSTEM_PROMPT
from graphs.rag_chat.nodes import take_question
from graphs.rag_chat.state import RagChatInput, RagChatOutput, RagChatState
from nodes.generate import make_generate
from nodes.retrieve import make_retrieve


def build_graph(
    *, deps: GraphDeps, checkpointer: BaseCheckpointSaver[str] | None = None
) -> CompiledStateGraph[RagChatState, Context, RagChatInput, RagChatOutput]:
    """Compile the rag-chat graph over the given models and knowledge base."""
    builder = StateGraph(
        RagChatState, context_schema=Context, input_schema=RagChatInput, output_schema=RagChatOutput
    )
    builder.add_node("take_question", take_question)
    builder.add_node("retrieve", make_retrieve(deps.models, deps.knowledge_base))
    builder.add_node(
        "generate",
        make_generate(
            deps.models,
            system_prompt=SYSTEM_PROMPT,
            nothing_found=NOTHING_FOUND,
            record_question=False,
        ),
    )
    builder.add_edge(START, "take_question")
    builder.add_edge("take_question", "retrieve")
    builder.add_edge("retrieve", "generate")
    builder.add_edge("generate", END)
    return builder.compile(checkpointer=checkpointer, name="rag-chat")
