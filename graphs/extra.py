"""Graphs of the operator's own (`ORCA_GRAPHS`, a project's `langgraph.json`) as served graphs.

What a target names may be a compiled graph, a `StateGraph` (compiled here), or a function
called as `build(checkpointer=...)` (or with no argument) that returns either. Importing the
target is the server's job (`server.projects.targets`); this module only turns the object
into a graph over the service's checkpointer and store.
"""

from __future__ import annotations

import inspect
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

Graph = CompiledStateGraph[Any, Any, Any, Any]


class NotAGraph(ValueError):
    """The object cannot be served as a graph; the message says why."""


def as_graph(
    name: str,
    found: Any,
    checkpointer: BaseCheckpointSaver[str] | None,
    store: BaseStore | None = None,
) -> Graph:
    """Return `found` as a compiled graph over `checkpointer` and `store`.

    A graph that brings its own checkpointer keeps it (the lifespan sets every graph's
    store to the service's).

    Raises:
        NotAGraph: naming the graph and what it got instead.
    """
    if callable(found) and not isinstance(found, StateGraph | CompiledStateGraph):
        found = _call_builder(name, found, checkpointer)
    if isinstance(found, StateGraph):
        return found.compile(checkpointer=checkpointer, store=store, name=name)
    if isinstance(found, CompiledStateGraph):
        update: dict[str, Any] = {}
        if found.checkpointer is None:
            update["checkpointer"] = checkpointer
        if found.store is None and store is not None:
            update["store"] = store
        return found.copy(update=update) if update else found
    raise NotAGraph(
        f"graph {name!r} is a {type(found).__name__}, not a compiled graph, a StateGraph "
        "or a function returning one"
    )


def _call_builder(name: str, build: Any, checkpointer: BaseCheckpointSaver[str] | None) -> Any:
    try:
        parameters = inspect.signature(build).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    if "checkpointer" in parameters:
        return build(checkpointer=checkpointer)
    required = [
        parameter.name
        for parameter in parameters.values()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    if required:
        # LangGraph's server calls such a factory per run with the run's config; Orca builds
        # each graph once, at start-up.
        raise NotAGraph(
            f"graph {name!r}: {build.__name__}({', '.join(required)}) builds a graph per run; "
            "Orca builds graphs once: export the compiled graph, or a function of no "
            "arguments (or of `checkpointer=`)"
        )
    return build()
