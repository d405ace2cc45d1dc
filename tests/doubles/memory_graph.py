"""A graph that keeps notes in long-term memory: `runtime.store` in an async node and
`get_store()` in a sync one (which LangGraph runs in a thread)."""

from __future__ import annotations

from typing import Any

from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

NOTES = ("notes",)


class State(TypedDict, total=False):
    note: str
    """The note to remember (its text is also its key)."""
    recalled: list[str]
    """The keys of every note in the run owner's memory, after this one was written."""
    nearest: str
    """The note nearest in meaning to this one, other than itself (semantic search)."""


async def remember(state: State, runtime: Runtime[Any]) -> dict[str, Any]:
    """Write the note, then read back every note the owner has."""
    assert runtime.store is not None
    await runtime.store.aput(NOTES, state["note"], {"text": state["note"]})
    found = await runtime.store.asearch(NOTES, limit=100)
    return {"recalled": sorted(item.key for item in found)}


def recall(state: State) -> dict[str, Any]:
    """Find the nearest other note, through the synchronous API."""
    found = get_store().search(NOTES, query=state["note"], limit=5)
    others = [item.key for item in found if item.key != state["note"]]
    return {"nearest": others[0] if others else ""}


def build_graph(checkpointer: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the memory graph over `checkpointer` (the service gives it its store)."""
    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_node("recall", recall)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", "recall")
    builder.add_edge("recall", END)
    return builder.compile(checkpointer=checkpointer, name="memory")
