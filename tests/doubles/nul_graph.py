"""A one-node graph whose result contains U+0000 when asked: values PostgreSQL refuses.

    ORCA_GRAPHS='{"nul": "tests.doubles.nul_graph:build_graph"}'

Input `{"text": ..., "nul": "lines" | "text"}`: the node appends U+0000 to one item of
`lines` (a list: the checkpointer stores it as a msgpack blob, so only the run's outcome,
jsonb, refuses it) or to `text` (a plain string: the checkpointer stores it inline, in
jsonb, so the checkpoint write refuses it already). The client never sends the NUL
(requests carrying one are refused before any run): the node writes it, as a tool or a
model answer might.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict

NUL = "\x00"


class State(TypedDict, total=False):
    text: str
    """The run's input, echoed in the result."""
    lines: list[str]
    """The result's list: `text`, once."""
    nul: Literal["lines", "text"] | None
    """Where the node appends U+0000 (nowhere when absent)."""


def write(state: State) -> dict[str, Any]:
    """Return the text and its one-line list, with a NUL where the input asks for one."""
    text, where = state.get("text", ""), state.get("nul")
    return {
        "text": text + NUL if where == "text" else text,
        "lines": [text + NUL if where == "lines" else text],
    }


def build_graph(checkpointer: Any = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile `write` over `checkpointer`."""
    builder = StateGraph(State)
    builder.add_node("write", write)
    builder.add_edge(START, "write")
    builder.add_edge("write", END)
    return builder.compile(checkpointer=checkpointer, name="nul")
