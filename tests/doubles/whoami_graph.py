"""A one-node graph that answers with who the server says runs it (`langgraph_auth_*`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict

KEYS = ("langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions")


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation."""


def reply(state: State, config: RunnableConfig) -> dict[str, Any]:
    """Answer with the run's `langgraph_auth_*` configurable values, as JSON."""
    configurable = config.get("configurable") or {}
    seen = {key: configurable.get(key) for key in KEYS}
    return {"messages": [AIMessage(json.dumps(seen, sort_keys=True))]}


def build_graph(checkpointer: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the whoami graph over `checkpointer`."""
    builder = StateGraph(State)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer, name="whoami")
