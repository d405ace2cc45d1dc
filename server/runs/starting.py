"""What a run must pass before it is stored: its command, and what it asks of the state.

`RunsService.prepare_run` checks and builds every run before `start_run` stores it, so a
batch refuses one bad run before it starts any. A run that names a checkpoint, or carries a
`command.update`, is rehearsed once the thread is known to be the caller's (the answers
differ by what the thread's checkpoints hold) and before it is inserted: an unknown
checkpoint is a 404, an update the graph's reducers refuse a 422, and nothing is written.
Stored as it came, such an update broke the thread for good: LangGraph saves it before it
applies it, and every later read and run applied it again and failed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from server.runs.execute import command_from
from server.runs.lookup import NotFound
from server.runs.records import RunRecord
from server.runs.rehearsal import rehearse_run_start
from server.runs.schema import RunCreate
from server.runs.state import thread_config

Graph = CompiledStateGraph[Any, Any, Any, Any]


@dataclass(frozen=True)
class PreparedRun:
    """A run checked and built by `RunsService.prepare_run`, not yet stored."""

    run: RunRecord
    body: RunCreate
    filters: Any
    """The project's authorization filters on the thread (None: no rule)."""
    marks: dict[str, Any]
    """What the run marks on its thread's metadata (graph and assistant ids)."""


def command_of(kwargs: dict[str, Any]) -> Command[Any] | None:
    """Return the run's LangGraph command (RunRejected, a 422, for a malformed `goto`)."""
    return command_from(kwargs["command"]) if kwargs.get("command") else None


def asks_of_the_state(kwargs: dict[str, Any]) -> bool:
    """Whether the run names a checkpoint or updates the state before it starts."""
    command = kwargs.get("command") or {}
    checkpoint = kwargs.get("checkpoint") or {}
    return command.get("update") is not None or bool(checkpoint.get("checkpoint_id"))


async def rehearse_start(graph: Graph, run: RunRecord, *, new_thread: bool = False) -> None:
    """Refuse the run if its checkpoint is unknown (404) or its update cannot apply (422).

    Call only for a thread the run's owner was shown to own, or, with `new_thread`, before
    the thread the run will make exists (a stateless run's, or `if_not_exists="create"`):
    rehearsed on an empty thread of its own, where no checkpoint can be found.

    Raises:
        NotFound: the checkpoint it names is not in the thread.
        RunRejected: its `command.update` cannot apply.
    """
    checkpoint = run.kwargs.get("checkpoint") or {}
    if new_thread and checkpoint.get("checkpoint_id"):
        where = f"thread {run.thread_id!r}, which is new" if run.thread_id else "a new thread"
        raise NotFound(f"no checkpoint {checkpoint['checkpoint_id']!r} in {where}")
    thread_id = f"rehearsal-{uuid.uuid4()}" if new_thread else run.thread_id
    config = thread_config(thread_id, checkpoint)
    await rehearse_run_start(graph, config, command_of(run.kwargs))
