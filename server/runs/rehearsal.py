"""Rehearse a write to a thread's state in memory before LangGraph persists it.

Why: LangGraph stores an update's writes before it knows its reducers accept them.
`abulk_update_state` saves a node's writes as pending writes of the thread's checkpoint
(`_astore_or_fork_delta_writes`, `aput_writes`) and only then applies them (`apply_writes`);
a run's `Command(update=...)` is saved the same way (`_loop._first`, `put_writes` under the
null task) before the loop applies it. When a reducer refuses the value (`operator.add` of
a list and a string: TypeError), the write is already stored, every later read and run
re-applies it and fails, and the thread is broken for good.

So every write is first made through a `RehearsalSaver`: LangGraph's own code runs on the
thread's real checkpoints, its writes land in memory, and the state it leaves is read back
as `GET /state` would read it. Only if that works is the write made for real. Checking the
values against the state schema instead would refuse what reducers accept (`add_messages`
takes one message where the state holds a list) and miss what a node's writers do.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, DeltaChannelHistory
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel._io import map_command
from langgraph.types import Command, StateUpdate

from server.runs.lookup import NotFound, RunRejected

Graph = CompiledStateGraph[Any, Any, Any, Any]


class SaverFailed(Exception):
    """The real checkpointer failed while rehearsing: not the caller's values' fault."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class RehearsalSaver(InMemorySaver):
    """Read a thread's checkpoints from the real saver; keep every write in memory.

    A checkpoint written during the rehearsal is read back from memory; a real one is read
    from the real saver with the writes rehearsed on it added to its pending writes.
    """

    def __init__(self, real: BaseCheckpointSaver[Any]) -> None:
        super().__init__(serde=real.serde)
        self.real = real

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the checkpoint as it would read after the rehearsed writes."""
        rehearsed = await super().aget_tuple(config)
        if rehearsed is not None:
            return rehearsed
        try:
            saved = await self.real.aget_tuple(config)
        except Exception as error:
            raise SaverFailed(error) from error
        if saved is None:
            return None
        configurable = saved.config["configurable"]
        key = (configurable["thread_id"], configurable.get("checkpoint_ns", ""))
        written = self.writes.get((*key, configurable["checkpoint_id"]), {})
        added = [
            (task, ch, self.serde.loads_typed(value)) for task, ch, value, _ in written.values()
        ]
        if not added:
            return saved
        return saved._replace(pending_writes=[*(saved.pending_writes or []), *added])

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Walk a real checkpoint's ancestors in the real saver (a DeltaChannel's history)."""
        if super().get_tuple(config) is not None:
            return await super().aget_delta_channel_history(config=config, channels=channels)
        try:
            return await self.real.aget_delta_channel_history(config=config, channels=channels)
        except Exception as error:
            raise SaverFailed(error) from error

    def get_next_version(self, current: Any, channel: None) -> Any:
        """Version channels as the real saver does (the rehearsal mirrors its checkpoints)."""
        return self.real.get_next_version(current, channel)


def _rehearsing(graph: Graph) -> tuple[Graph, RehearsalSaver] | None:
    saver = graph.checkpointer
    if not isinstance(saver, BaseCheckpointSaver):
        return None  # LangGraph itself refuses a state write without a checkpointer
    rehearsal = RehearsalSaver(saver)
    return graph.copy({"checkpointer": rehearsal}), rehearsal


async def _require_checkpoint(saver: RehearsalSaver, config: RunnableConfig) -> None:
    """Refuse a write addressed to a checkpoint the thread does not have (404).

    LangGraph would start from an empty state there, dropping the thread's values from its
    head; the protocol surface answers `no_such_checkpoint` (404) for the same mistake.
    """
    configurable = config.get("configurable") or {}
    checkpoint_id = configurable.get("checkpoint_id")
    if checkpoint_id and await saver.aget_tuple(config) is None:
        raise NotFound(f"no checkpoint {checkpoint_id!r} in thread {configurable['thread_id']!r}")


@asynccontextmanager
async def _refusing(what: str, values: Any) -> AsyncIterator[None]:
    """Turn what LangGraph raises while rehearsing into the caller's refusal (422).

    A failure of the real checkpointer is re-raised as itself (the database, not the
    caller's values), and an unknown checkpoint stays a 404.
    """
    try:
        yield
    except SaverFailed as failed:
        raise failed.error from None
    except NotFound:
        raise
    except Exception as error:  # a reducer or a node's writer refusing the values
        raise _refusal(error, what, values) from None


def _refusal(error: Exception, what: str, values: Any) -> RunRejected:
    fields = f" of {sorted(map(str, values))}" if isinstance(values, dict) and values else ""
    return RunRejected(
        f"{what}{fields} cannot be applied to this graph's state: "
        f"{type(error).__name__}: {error}; nothing was written"
    )


async def rehearse_updates(
    graph: Graph, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]
) -> None:
    """Refuse supersteps the graph cannot apply at `config`, writing nothing.

    Raises:
        NotFound: `config` names a checkpoint the thread does not have.
        RunRejected: LangGraph refuses the updates, or the state they leave cannot be read.
    """
    found = _rehearsing(graph)
    if found is None:
        return
    copy, saver = found
    first = supersteps[0][0].values if supersteps and supersteps[0] else None
    async with _refusing("the state update", first):
        await _require_checkpoint(saver, config)
        written = await copy.abulk_update_state(config, supersteps)
        await copy.aget_state(_head(written))


async def rehearse_supersteps_of_new_thread(
    graph: Graph, supersteps: Sequence[Sequence[StateUpdate]]
) -> None:
    """Refuse a new thread's supersteps the graph cannot apply, before its row exists.

    Rehearsed under a scratch thread id: the history they build starts empty whatever id the
    caller chose, and another identity's checkpoints under that id are never read.
    """
    scratch: RunnableConfig = {"configurable": {"thread_id": str(uuid.uuid4())}}
    await rehearse_updates(graph, scratch, supersteps)


async def rehearse_run_start(
    graph: Graph, config: RunnableConfig, command: Command[Any] | None
) -> None:
    """Refuse a run whose checkpoint is unknown (404) or whose `command.update` cannot apply.

    For a run on a thread the caller was shown to own: the answers differ by what the
    thread's checkpoints hold.

    A run stores `command.update` as null-task writes on the checkpoint it starts from, and
    every read applies those (`aget_state`, the next run), so the rehearsal stores them in
    memory and reads the state back. `resume` and `goto` are not rehearsed: no reducer sees
    them.
    """
    found = _rehearsing(graph)
    if found is None:
        return
    copy, saver = found
    async with _refusing("command.update", command.update if command else None):
        await _require_checkpoint(saver, config)
        # What the run's loop stores (`_loop._first`): `(task_id, channel, value)`, all under
        # LangGraph's null task, whose writes every read applies as the checkpoint's own.
        mapped = list(map_command(Command(update=command.update))) if command else []
        if not mapped:
            return
        saved = await saver.aget_tuple(config)
        if saved is None:  # no checkpoint yet: the update meets the graph's empty channels
            saved = await saver.aget_tuple(await copy.aupdate_state(config, None))
            assert saved is not None, "the rehearsal's own checkpoint is in memory"
        writes = [(channel, value) for _, channel, value in mapped]
        await saver.aput_writes(saved.config, writes, mapped[0][0])
        await copy.aget_state(saved.config if _names_checkpoint(config) else _head(config))


def _names_checkpoint(config: RunnableConfig) -> bool:
    return bool((config.get("configurable") or {}).get("checkpoint_id"))


def _head(config: RunnableConfig) -> RunnableConfig:
    """Return `config` without its checkpoint id: the thread's latest checkpoint, read live."""
    configurable = dict(config.get("configurable") or {})
    configurable.pop("checkpoint_id", None)
    return {**config, "configurable": configurable}
