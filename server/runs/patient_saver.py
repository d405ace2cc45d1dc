"""The checkpointer of runs-API runs: the shared one, retrying within the attempt's lease.

Issue 17: a node ended just as PostgreSQL restarted; its checkpoint write failed, so the
run failed with it, and the next attempt ran the node again. Run by a worker (inside an
attempt, `CURRENT_LEASE` set), every checkpoint read and write is retried while the
database is away and the lease lasts, so the step is saved once it is back. Elsewhere
(LangServe, AG-UI, thread-state routes: no lease) calls pass straight through and fail
fast, as before. Retrying is safe: PostgreSQL's saver upserts checkpoints, blobs and
writes by their keys.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.graph.state import CompiledStateGraph

from server.runs.patience import CURRENT_LEASE, patiently

T = TypeVar("T")
Graph = CompiledStateGraph[Any, Any, Any, Any]


class PatientSaver(BaseCheckpointSaver[Any]):
    """Delegate to `inner`; inside a run attempt, retry transient failures within its lease."""

    def __init__(self, inner: BaseCheckpointSaver[Any]) -> None:
        # No `super().__init__()`: the serializer is the inner saver's (see `serde`).
        self.inner = inner

    @property
    def serde(self) -> Any:  # type: ignore[override]  # the base's attribute, read-only here
        """Return the inner saver's serializer."""
        return self.inner.serde

    @property
    def config_specs(self) -> list[Any]:
        """Return the inner saver's configuration specs."""
        return self.inner.config_specs

    def __getattr__(self, name: str) -> Any:
        # Whatever else callers reach for on the saver (`setup`, `conn`, `lock`).
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def _patient(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        lease = CURRENT_LEASE.get()
        if lease is None:
            return await call()
        return await patiently(call, until=lease, what=what)

    # What LangGraph calls while it runs a graph --------------------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Read a checkpoint."""
        return await self._patient(lambda: self.inner.aget_tuple(config), "reading a checkpoint")

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Write a checkpoint (an upsert: safe to send again)."""
        return await self._patient(
            lambda: self.inner.aput(config, checkpoint, metadata, new_versions),
            "writing a checkpoint",
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Write a task's writes (upserts keyed by task and index: safe to send again)."""
        await self._patient(
            lambda: self.inner.aput_writes(config, writes, task_id, task_path),
            "writing a task's writes",
        )

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Any:
        """Read the writes of delta channels along the parent chain."""
        return await self._patient(
            lambda: self.inner.aget_delta_channel_history(config=config, channels=channels),
            "reading channel history",
        )

    def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - the base class's name
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """List checkpoints (not retried: a retry could repeat what was already yielded)."""
        return self.inner.alist(config, filter=filter, before=before, limit=limit)

    def get_next_version(self, current: Any, channel: None) -> Any:
        """Return the inner saver's next channel version."""
        return self.inner.get_next_version(current, channel)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> PatientSaver:
        """Wrap the inner saver's allowlisted clone (LangGraph asks on every run)."""
        inner = self.inner.with_allowlist(extra_allowlist)
        return self if inner is self.inner else PatientSaver(inner)

    # The rest, delegated as they are -----------------------------------------------
    async def adelete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints."""
        await self.inner.adelete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Any) -> None:
        """Delete the checkpoints the runs wrote."""
        await self.inner.adelete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's checkpoints."""
        await self.inner.acopy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Any, *, strategy: str = "keep_latest") -> None:
        """Prune threads' checkpoints."""
        await self.inner.aprune(thread_ids, strategy=strategy)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Read a checkpoint (sync)."""
        return self.inner.get_tuple(config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - the base class's name
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """List checkpoints (sync)."""
        return self.inner.list(config, filter=filter, before=before, limit=limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Write a checkpoint (sync)."""
        return self.inner.put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Write a task's writes (sync)."""
        self.inner.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints (sync)."""
        self.inner.delete_thread(thread_id)


_PATIENT: weakref.WeakKeyDictionary[Graph, Graph] = weakref.WeakKeyDictionary()
"""Each served graph's copy over a `PatientSaver`, made once (the graphs live as long
as their app)."""


def patient(graph: Graph) -> Graph:
    """Return `graph` compiled over a `PatientSaver` of its checkpointer (made once)."""
    saver = graph.checkpointer
    if not isinstance(saver, BaseCheckpointSaver) or isinstance(saver, PatientSaver):
        return graph  # no saver of its own (it uses its parent's), or already patient
    copy = _PATIENT.get(graph)
    if copy is None:
        copy = _PATIENT[graph] = graph.copy(update={"checkpointer": PatientSaver(saver)})
    return copy
