"""The graph as `ag-ui-langgraph` sees it, its raw events copied into the run's event log.

An AG-UI run is a run of the run service like any other, so another client may join it
through the runs API (`/threads/{id}/runs/{run_id}/stream`). What the adapter reads from
the graph (LangChain's `astream_events` v2) is what the runs API's `events` stream mode
sends, so each raw event is recorded under that name; the run's final `values` follow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from server.runs.events import RunEvents

HIDDEN = "langsmith:hidden"


class RecordedGraph:
    """Delegate everything to the graph; tee `astream_events` into `events`."""

    def __init__(self, graph: CompiledStateGraph[Any, Any, Any, Any], events: RunEvents) -> None:
        self._graph = graph
        self._events = events

    @property
    def wrapped(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """Return the graph itself (what caches per graph key on)."""
        return self._graph

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)

    def astream_events(self, *args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        """Stream the graph's events, recording each one the runs API would send."""
        return self._recorded(self._graph.astream_events(*args, **kwargs))

    async def _recorded(self, stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for event in stream:
            if HIDDEN not in (event.get("tags") or ()):
                self._events.emit("events", event)
            yield event
