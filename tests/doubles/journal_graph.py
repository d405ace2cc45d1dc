"""A two-node chat graph whose state has a reducer besides `messages`: `heard` accumulates.

`note` appends the last message to `heard` (`operator.add`), then `reply` answers it and
sets `topic` (last value), so a snapshot taken between them shows whether the state was
reduced as the checkpoint reduces it.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation."""
    heard: Annotated[list[str], operator.add]
    """Every user message of the thread, oldest first."""
    topic: str
    """The last user message."""


def note(state: State) -> dict[str, Any]:
    """Add the last message to what was heard."""
    return {"heard": [str(state["messages"][-1].content)]}


def reply(state: State) -> dict[str, Any]:
    """Answer with the count of messages heard; the last one becomes the topic."""
    last = str(state["messages"][-1].content)
    return {"messages": [AIMessage(f"heard {len(state['heard'])}")], "topic": last}


def build_graph(checkpointer: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the journal graph over `checkpointer`."""
    builder = StateGraph(State)
    builder.add_node("note", note)
    builder.add_node("reply", reply)
    builder.add_edge(START, "note")
    builder.add_edge("note", "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer, name="journal")
