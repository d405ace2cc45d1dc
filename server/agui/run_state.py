"""The thread's state as a run writes it, node by node: what each `STATE_SNAPSHOT` carries.

`ag-ui-langgraph` builds the snapshot it sends as a node ends from the run's input (the
client's `input.state`, the new messages, the frontend tools), updated with each node's
output key by key. In its design the client's `input.state` echoes the last snapshot, so
the input carries the thread's state. `OrcaAgent` drops `input.state` (a client does not
write agent state), and those snapshots held only what the run had written so far:
`{"tools": []}` after `route_model`, the thread's `model` and `sources` back only in the
final snapshot, read from the checkpoint. A `STATE_SNAPSHOT` replaces the client's whole
state, so a UI rendering `sources` blanked for the length of every run.

`RunState` starts from the checkpoint the run starts from and applies the run's input and
each node's output through the graph's own channels, so a key with a reducer is reduced as
the checkpoint will reduce it. The keys no snapshot shows (`messages`) are not followed:
`add_messages` gives an id to each message it merges that has none, and an observer must
not change what the graph is about to write.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from langgraph.channels.base import BaseChannel
from langgraph.errors import InvalidUpdateError
from langgraph.types import Command

log = logging.getLogger("orca.agui")


class RunState:
    """The state of one run's thread, kept current as the run's nodes end."""

    def __init__(self, graph: Any, values: Mapping[str, Any], skipped: Iterable[str]) -> None:
        """Start from `values`, the checkpoint the run starts from.

        Args:
            graph: the compiled graph; its builder's channels hold the reducers.
            values: the state before the run.
            skipped: keys not to follow (no snapshot shows them).
        """
        self._skipped = frozenset(skipped)
        self._channels = _state_channels(graph, values, self._skipped)
        self.values: dict[str, Any] = {
            key: value for key, value in values.items() if key not in self._skipped
        }

    def apply(self, update: Any) -> None:
        """Write a node's output (or the run's input) as LangGraph will checkpoint it.

        A key with a channel goes through it (its reducer, or last value); without channels
        (a graph that is not a `StateGraph`) each key replaces its value; keys of a
        `StateGraph` that name no channel are not state, and LangGraph ignores them too.
        """
        if isinstance(update, Command):
            update = update.update
        if not isinstance(update, Mapping):
            return
        for key, value in update.items():
            if key in self._skipped:
                continue
            channel = self._channels.get(key)
            if channel is None:
                if not self._channels:
                    self.values[key] = value
                continue
            try:
                channel.update([value])
            except InvalidUpdateError:  # LangGraph refuses it too, and fails the run
                log.debug("state key %s not followed: update refused", key)
                continue
            self.values[key] = channel.get()

    async def follow(self, events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[Any]:
        """Pass a run's LangGraph events through, applying each node's output first."""
        async for event in events:
            self.apply(node_output(event))
            yield event


def _state_channels(
    graph: Any, values: Mapping[str, Any], skipped: frozenset[str]
) -> dict[str, BaseChannel[Any, Any, Any]]:
    """Return fresh copies of the graph's state channels, holding `values`."""
    builder = getattr(graph, "builder", None)
    channels: Mapping[str, Any] = getattr(builder, "channels", None) or {}
    return {
        key: channel.from_checkpoint(values[key]) if key in values else channel.copy()
        for key, channel in channels.items()
        if key not in skipped and isinstance(channel, BaseChannel)
    }


def node_output(event: Mapping[str, Any]) -> Any:
    """Return what a node of the run's own graph returned, if `event` is its end.

    Runnables a node calls share its metadata but not its name; the nodes of a subgraph
    (a namespace with `|`) write their subgraph's state, not this one.
    """
    if event.get("event") != "on_chain_end":
        return None
    metadata = event.get("metadata") or {}
    node = metadata.get("langgraph_node")
    namespace = metadata.get("langgraph_checkpoint_ns") or ""
    if not node or event.get("name") != node or "|" in namespace:
        return None
    return (event.get("data") or {}).get("output")


def ends_node(raw_event: Any) -> bool:
    """Say if a snapshot was made for a node's end (not a node's own emitted state)."""
    return isinstance(raw_event, Mapping) and raw_event.get("event") == "on_chain_end"
