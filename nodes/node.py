"""The shapes of a node, as the `make_*` factories return them and LangGraph calls them.

LangGraph passes the state as `state` and the run as the keyword `runtime`, and reads the
first parameter's type as the keys the node is given; a `Callable[[S, R], U]` has neither
name, so factories return these protocols instead.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from langgraph.runtime import Runtime

from nodes.context import Context

StateT_contra = TypeVar("StateT_contra", contravariant=True)
UpdateT_co = TypeVar("UpdateT_co", covariant=True)


class Node(Protocol[StateT_contra, UpdateT_co]):
    """A node that reads the run's `Context`: `(state, runtime) -> update`."""

    def __call__(self, state: StateT_contra, runtime: Runtime[Context]) -> UpdateT_co:
        """Return the keys of the state this step changes."""
        ...


class StateOnlyNode(Protocol[StateT_contra, UpdateT_co]):
    """A node that needs only the state: `(state) -> update`."""

    def __call__(self, state: StateT_contra) -> UpdateT_co:
        """Return the keys of the state this step changes."""
        ...
