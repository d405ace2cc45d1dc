"""A one-node graph that echoes the run context it got, and one configurable knob.

    ORCA_GRAPHS='{"context_echo": "tests.doubles.context_graph:build_graph"}'

Its context schema is a dataclass with defaults (as `langgraph new` templates write one),
so a run that reaches the node with no context at all fails on `runtime.context.model`;
the state says which context, and which `configurable["style"]`, the run had.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict


@dataclass
class EchoContext:
    """Per-run knobs, each with a default."""

    model: str = "small"
    """Which model the run would use."""
    temperature: float = 0.0
    """How creative the answer would be."""
    user: str = "anonymous"
    """Who the answer would be for."""


class State(TypedDict, total=False):
    question: str
    """The run's input (unused)."""
    context: dict[str, Any]
    """The context the node saw, as a dict."""
    model: str
    """`runtime.context.model`, read as a graph of this shape reads it."""
    style: str | None
    """`config["configurable"]["style"]`, when the run's config set it."""


def echo(state: State, runtime: Runtime[EchoContext], config: RunnableConfig) -> dict[str, Any]:
    """Write the context and the `style` knob into the state."""
    model = runtime.context.model  # what fails when a run gets no context at all
    return {
        "context": asdict(runtime.context),
        "model": model,
        "style": (config.get("configurable") or {}).get("style"),
    }


def build_graph(checkpointer: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the context echo graph over `checkpointer`."""
    builder = StateGraph(State, context_schema=EchoContext)
    builder.add_node("echo", echo)
    builder.add_edge(START, "echo")
    builder.add_edge("echo", END)
    return builder.compile(checkpointer=checkpointer, name="context_echo")
