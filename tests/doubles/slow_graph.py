"""A three-step graph whose middle step waits for the test: runs to kill, drain and resume.

    ORCA_GRAPHS='{"slow": "tests.doubles.slow_graph:build_graph"}'  SLOW_GRAPH_DIR=/some/dir

`first → slow → last`, compiled with the service's durability (`graphs.durable`), as the
built-in workflows are. Every node, when it starts, appends `<thread_id> <node> <attempt>`
to `$SLOW_GRAPH_DIR/log` (one short `O_APPEND` write, so the lines of several processes
never interleave): a test counts executions per node and attempt. `slow` then waits until
`$SLOW_GRAPH_DIR/release-<thread_id>` exists, so the test decides when it proceeds (kill,
drain or cancel the run meanwhile) and nothing depends on how long anything takes.
"""

from __future__ import annotations

import asyncio
import operator
import os
from pathlib import Path
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict

from graphs import durable

POLL_S = 0.02
"""How often `slow` looks for its release file (latency only, never correctness)."""


class State(TypedDict, total=False):
    topic: str
    """The run's input."""
    steps: Annotated[list[str], operator.add]
    """The nodes that completed, in order."""


def workdir() -> Path:
    """Return the directory of the log and the release files."""
    return Path(os.environ["SLOW_GRAPH_DIR"])


def record(node: str, config: RunnableConfig) -> str:
    """Append that `node` started in this attempt; return the run's thread id."""
    thread_id = str(config["configurable"]["thread_id"])
    attempt = (config.get("metadata") or {}).get("run_attempt", 0)
    with (workdir() / "log").open("a") as log:
        log.write(f"{thread_id} {node} {attempt}\n")
    return thread_id


async def first(state: State, config: RunnableConfig) -> dict[str, Any]:
    """Record, and complete at once."""
    record("first", config)
    return {"steps": ["first"]}


async def slow(state: State, config: RunnableConfig) -> dict[str, Any]:
    """Record, then wait for the test's release file."""
    release = workdir() / f"release-{record('slow', config)}"
    while not release.exists():  # noqa: ASYNC110 - a file: another process's signal
        await asyncio.sleep(POLL_S)
    return {"steps": ["slow"]}


async def last(state: State, config: RunnableConfig) -> dict[str, Any]:
    """Record, and complete at once."""
    record("last", config)
    return {"steps": ["last"]}


def build_graph(checkpointer: Any = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile `first → slow → last` over `checkpointer`."""
    builder = StateGraph(State)
    builder.add_node("first", first)
    builder.add_node("slow", slow)
    builder.add_node("last", last)
    builder.add_edge(START, "first")
    builder.add_edge("first", "slow")
    builder.add_edge("slow", "last")
    builder.add_edge("last", END)
    return durable(builder.compile(checkpointer=checkpointer, name="slow"))
