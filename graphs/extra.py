"""Graphs served beside the built-in workflows, named in `ORCA_GRAPHS` (runs API only).

Each entry is `module:attribute`, like a `langgraph.json` graph: a compiled graph, a
`StateGraph` (compiled here with the service's checkpointer), or a function called as
`build(checkpointer=...)` that returns either.
"""

from __future__ import annotations

import importlib
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs import durable

Graph = CompiledStateGraph[Any, Any, Any, Any]


def load_graph(name: str, target: str, checkpointer: BaseCheckpointSaver[str] | None) -> Graph:
    """Import `module:attribute` and return it as a graph over `checkpointer`.

    Raises:
        ValueError: naming the graph and what is wrong with its target.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"graph {name!r}: {target!r} is not 'module:attribute'")
    try:
        found: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"graph {name!r}: cannot load {target!r}: {error}") from None
    if callable(found) and not isinstance(found, StateGraph | CompiledStateGraph):
        found = found(checkpointer=checkpointer)
    if isinstance(found, StateGraph):
        return found.compile(checkpointer=checkpointer, name=name)
    if isinstance(found, CompiledStateGraph):
        if found.checkpointer is None:
            return found.copy(update={"checkpointer": checkpointer})
        return found
    raise ValueError(f"graph {name!r}: {target!r} is a {type(found).__name__}, not a graph")


def load_extra_graphs(
    settings: Any, checkpointer: BaseCheckpointSaver[str] | None
) -> dict[str, Graph]:
    """Load every graph of `settings.graphs` (`ORCA_GRAPHS`), durable like the workflows.

    `durable` only sets the default: a run's `durability` still chooses for that run.
    """
    return {
        name: durable(load_graph(name, target, checkpointer))
        for name, target in settings.graphs.items()
    }
