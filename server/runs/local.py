"""Runs a surface executes in this process, recorded and ruled like every other run.

LangServe and AG-UI stream their own protocols (LangChain callback events, AG-UI events),
which only the graph's own streams can produce, so they cannot be served from the runs
API's event log. They still go through the run service: the thread is claimed there, the
run is inserted already claimed by this process (the store's one-running-run-per-thread
rule refuses a second one, 409), and this process's workers execute it, with heartbeats,
the timeout, cancellation and an outcome recorded on the run and its thread. The only
difference is the body: the surface's own, whose items reach the waiting handler through
a queue. A run whose process died is requeued like any other and resumes from its last
checkpoint in the runs API's executor (there is no client left to stream to).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from server.runs.events import RunEvents
from server.runs.execute import INTERRUPT, Outcome, run_marks
from server.runs.records import RunRecord
from server.runs.serde import jsonable
from server.runs.wire import after_disconnect

SurfaceBody = Callable[[RunEvents, dict[str, Any]], AsyncIterator[Any]]
"""What a surface runs: given the run's event log and its marks, yield its protocol's items.

The marks (`run_marks`: the run's id, thread, graph...) go into the metadata of the config
the surface runs the graph with (`marked`), so its checkpoints carry them as the runs API's
do: a `rollback` cancel deletes what the run wrote, whichever surface started it.
"""


def marked(config: RunnableConfig, marks: dict[str, Any]) -> RunnableConfig:
    """`config` with the run's marks added to its metadata (they win over the caller's)."""
    return RunnableConfig(**{**config, "metadata": {**(config.get("metadata") or {}), **marks}})


class RunEnded(Exception):
    """The run ended without its body finishing (cancelled, timed out, lost its worker)."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the run ended {status}")
        self.status = status


@dataclass
class _Finished:
    error: BaseException | None = None


@dataclass
class LocalRun:
    """A surface's run: its record, and the items its body yields for the client."""

    run: RunRecord
    body: SurfaceBody
    task: asyncio.Task[Outcome | None] | None = None
    _items: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    finished: bool = False

    async def items(self) -> AsyncIterator[Any]:
        """Yield what the body yields; raise what it raised (or `RunEnded`).

        Ends once the run's outcome is recorded, whether the body finished or raised, so a
        client that starts its next run on the thread as soon as this one's answer (or its
        error) is complete finds the thread free.
        """
        assert self.task is not None
        while True:
            getting = asyncio.ensure_future(self._items.get())
            try:
                await asyncio.wait({getting, self.task}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                getting.cancel()
                raise
            if not getting.done():
                getting.cancel()
                if self._items.empty():
                    self.finished = True
                    raise RunEnded(await self._status())
                continue
            item = getting.result()
            if isinstance(item, _Finished):
                self.finished = True
                status = await self._status()  # however the body ended: recorded first
                if isinstance(item.error, asyncio.CancelledError):
                    raise RunEnded(status)
                if item.error is not None:
                    raise item.error
                return
            yield item

    def client_left(self, cancel: Callable[[RunRecord, str], Awaitable[None]]) -> None:
        """Cancel the run (`interrupt`, as the runs API does) unless its client saw it end.

        Called as the client's response ends, often from a scope Starlette has already
        cancelled (anyio then cancels every await made there, a `finally`'s included: the
        cancel's first query was cut short and the run went on to `success`, its thread
        busy). `after_disconnect` runs the cancel in a task of its own instead.
        """
        if not self.finished:
            after_disconnect(lambda: cancel(self.run, "interrupt"))

    async def _status(self) -> str:
        assert self.task is not None
        try:
            outcome = await asyncio.shield(self.task)
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - only its status matters
            return "stopped"
        if outcome is None:
            return "requeued"
        return outcome.metric_outcome

    async def execute(self, events: RunEvents) -> None:
        """Run the body in the worker's task, handing its items to the client."""
        try:
            async for item in self.body(events, run_marks(self.run)):
                await self._items.put(item)
        except BaseException as error:
            await self._items.put(_Finished(error))
            raise
        await self._items.put(_Finished())


async def outcome_from_state(
    graph: CompiledStateGraph[Any, Any, Any, Any], run: RunRecord, events: RunEvents
) -> Outcome:
    """Read how the run left its thread, and send the final values to its readers."""
    snapshot = await graph.aget_state({"configurable": {"thread_id": run.thread_id}})
    values = jsonable(snapshot.values)
    events.emit("values", snapshot.values)
    interrupts = jsonable([i for task in snapshot.tasks for i in task.interrupts])
    by_task = {task.id: jsonable(task.interrupts) for task in snapshot.tasks if task.interrupts}
    if interrupts:
        outcome = Outcome("success", {INTERRUPT: interrupts}, values, interrupts, paused=True)
        outcome.interrupts_by_task = by_task
        return outcome
    return Outcome("success", values, values)
