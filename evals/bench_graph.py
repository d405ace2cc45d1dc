"""The trivial two-node graph of the runs benchmark (`evals/bench_runs.py`).

START → `first` → `second` → END; each node appends its name to `trace` and increments
`count`, so a run costs almost nothing but the server's own work: threads, runs, checkpoints
and the HTTP round trip. Imports only LangGraph, so the separate `langgraph dev` venv loads
this file as it is (its `langgraph.json` points at `graph`) and Orca serves it through
`ORCA_GRAPHS={"bench": "evals.bench_graph:build_graph"}`.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict  # pydantic reads it for the input schema on 3.11


class BenchState(TypedDict, total=False):
    """State of the benchmark graph.

    Attributes:
        count: Incremented once by each node.
        trace: Names of the nodes that ran, in order (appended, never replaced).
    """

    count: int
    trace: Annotated[list[str], operator.add]


def first(state: BenchState) -> dict[str, Any]:
    """Record the first node.

    Args:
        state: The current state.

    Returns:
        The update: `count` plus one and `"first"` appended to `trace`.
    """
    return {"count": state.get("count", 0) + 1, "trace": ["first"]}


def second(state: BenchState) -> dict[str, Any]:
    """Record the second node.

    Args:
        state: The current state.

    Returns:
        The update: `count` plus one and `"second"` appended to `trace`.
    """
    return {"count": state.get("count", 0) + 1, "trace": ["second"]}


def _builder() -> StateGraph:
    builder = StateGraph(BenchState)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder


def build_graph(checkpointer: Any = None) -> Any:
    """Compile the benchmark graph.

    Args:
        checkpointer: The checkpointer to compile with; None for none.

    Returns:
        The compiled graph, named `bench`.
    """
    return _builder().compile(checkpointer=checkpointer, name="bench")


graph = build_graph()
"""Compiled without a checkpointer, for `langgraph dev`, which brings its own."""
