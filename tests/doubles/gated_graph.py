"""A graph whose runs the test holds open: custom stream events, a gate, a subgraph.

`begin` logs `<label>:begin`; `work` writes `{"label", "step"}` three times with
`get_stream_writer()`, then, if the test called `hold(label)`, waits until it calls
`release(label)`, and logs `<label>:done`. `log` accumulates over a thread's runs, so
the order of runs shows in the final values. The server runs in another thread with its
own event loop, hence a `threading.Event` polled from the node (a cancelled run stops at
its next poll). `held()` gives a fresh held label and releases it at the end.
"""

from __future__ import annotations

import asyncio
import operator
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict

STEPS = 3
_gates: dict[str, threading.Event] = {}
_waiting: set[str] = set()


class State(TypedDict, total=False):
    label: str
    """Names the run in the log and its gate."""
    log: Annotated[list[str], operator.add]
    """What the nodes of every run on the thread did, in order."""


def hold(label: str) -> None:
    """Make runs labelled `label` wait in `work` until `release(label)`."""
    _gates[label] = threading.Event()


def release(label: str) -> None:
    """Let runs labelled `label` finish."""
    _gates[label].set()


@contextmanager
def held() -> Iterator[str]:
    """Yield a fresh label whose runs wait at the gate; release them on the way out."""
    label = f"held-{uuid.uuid4().hex[:8]}"
    hold(label)
    try:
        yield label
    finally:
        release(label)


def waiting(label: str) -> bool:
    """Return whether a run labelled `label` is waiting at its gate now."""
    return label in _waiting


async def begin(state: State) -> dict[str, Any]:
    """Log the run's start (a checkpoint before the gate)."""
    return {"log": [f"{state['label']}:begin"]}


async def work(state: State) -> dict[str, Any]:
    """Write the steps, wait at the gate if held, log the end."""
    label = state["label"]
    write = get_stream_writer()
    for step in range(STEPS):
        write({"label": label, "step": step})
    gate = _gates.get(label)
    if gate is not None:
        _waiting.add(label)
        try:
            while not gate.is_set():  # noqa: ASYNC110 - the gate is set from another thread
                await asyncio.sleep(0.005)
        finally:
            _waiting.discard(label)
    return {"log": [f"{label}:done"]}


def build_graph(checkpointer: Any = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile `begin → work` over `checkpointer`."""
    builder = StateGraph(State)
    builder.add_node("begin", begin)
    builder.add_node("work", work)
    builder.add_edge(START, "begin")
    builder.add_edge("begin", "work")
    builder.add_edge("work", END)
    return builder.compile(checkpointer=checkpointer, name="gated")


def build_nested_graph(checkpointer: Any = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile a parent whose one node `inner` is the gated graph (a subgraph)."""
    builder = StateGraph(State)
    builder.add_node("inner", build_graph())
    builder.add_edge(START, "inner")
    builder.add_edge("inner", END)
    return builder.compile(checkpointer=checkpointer, name="nested")
