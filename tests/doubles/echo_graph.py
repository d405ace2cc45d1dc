"""A one-node graph that echoes the last message: real checkpoints for storage tests."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation."""


def reply(state: State) -> dict[str, Any]:
    """Answer with the last message, prefixed."""
    return {"messages": [AIMessage(f"echo: {state['messages'][-1].content}")]}


def build_graph(checkpointer: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the echo graph over `checkpointer`."""
    builder = StateGraph(State)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer, name="echo")
