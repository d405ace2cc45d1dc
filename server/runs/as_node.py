"""Which `as_node` a state update may name: the graph's nodes and LangGraph's special ones.

`POST /threads/{id}/state` and the `supersteps` of `POST /threads` both write through
LangGraph's `bulk_update_state`, which takes, besides the graph's own nodes (`__start__`
among them), three names of its own (langgraph `pregel/main.py`, `aperform_superstep`):

- `__end__` with null values: end the pending tasks (what dismisses an interrupt); the
  thread's next checkpoint has nothing left to run.
- `__input__`: write the values as the graph's input (a `source: input` checkpoint).
- `__copy__`: fork the current checkpoint into a new one beside it (`source: fork`).

Any other name is refused here (422) before anything is rehearsed or written.
"""

from __future__ import annotations

from typing import Any

from langgraph.constants import END

from server.runs.lookup import RunRejected
from server.runs.rehearsal import Graph

INPUT = "__input__"
COPY = "__copy__"
SPECIAL = (END, INPUT, COPY)
"""The names LangGraph's `bulk_update_state` handles itself, not as a node."""


def check_as_node(graph: Graph, as_node: str | None, values: Any, where: str) -> None:
    """Refuse an `as_node` LangGraph would not apply to `graph`.

    Args:
        graph: the thread's graph.
        as_node: the name the update gives (None: LangGraph infers the last node).
        values: the update's values; `__end__` takes none.
        where: the field, for the message (`as_node`, `supersteps[0]`).

    Raises:
        RunRejected: an unknown node, or `__end__` with values.
    """
    if as_node is None or as_node in graph.nodes:
        return
    if as_node not in SPECIAL:
        known = sorted({*graph.nodes, *SPECIAL})
        raise RunRejected(f"{where}: no node {as_node!r} in this graph; one of {known}")
    if as_node == END and values is not None:
        raise RunRejected(
            f"{where}: as_node {END!r} takes null values (it ends the pending tasks); "
            "to write values, name the node that would have returned them"
        )
