"""The store as graphs see it: `runtime.store` / `get_store()`, scoped to the run's owner.

Every graph the service serves is compiled once and shared by all identities' runs, so
its `store` cannot be one identity's. It is a `RunStore`, which asks, per operation, whose
run is executing: `RunsService.execute` (the one place every surface's runs go through:
the runs API, AG-UI, LangServe) sets the owner with `owned_store` for the run's task, and
the graph's node tasks inherit it (asyncio copies context variables into the tasks it
starts, and LangGraph into the threads of synchronous nodes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from langgraph.store.base import BaseStore, Op, Result, TTLConfig

from server.store.indexed import LoopStore

RUN_OWNER: ContextVar[str | None] = ContextVar("orca_store_run_owner", default=None)
"""The identity whose run is executing in this context (None outside runs)."""


@asynccontextmanager
async def owned_store(owner: str) -> AsyncIterator[None]:
    """Make the store of every graph in this task (and those it starts) `owner`'s view."""
    token = RUN_OWNER.set(owner)
    try:
        yield
    finally:
        RUN_OWNER.reset(token)


class RunStore(LoopStore):
    """Delegate each operation to the view of the owner of the run executing it."""

    supports_ttl = True

    def __init__(self, view: Callable[[str], BaseStore], ttl: TTLConfig) -> None:
        """Build the views of owners with `view` (an identity id to its scoped store).

        `ttl` gives puts their default TTL and reads their refresh (as the views do).
        """
        super().__init__()
        self.view = view
        self.ttl_config = ttl

    def owner_store(self) -> BaseStore:
        """Return the view of the current run's owner.

        Raises:
            RuntimeError: outside a run of the service (e.g. a graph invoked directly).
        """
        owner = RUN_OWNER.get()
        if owner is None:
            raise RuntimeError(
                "the store is available to graphs run by the service (the runs API, AG-UI, "
                "LangServe); this graph was invoked outside a run"
            )
        return self.view(owner)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the ops in the current run owner's namespaces."""
        return await self.owner_store().abatch(ops)


def give_store(graphs: Mapping[str, Any], store: BaseStore) -> None:
    """Make `store` the store of every graph (one a graph was compiled with is replaced).

    Set on the shared compiled objects, so every surface holding them sees it; subgraphs
    get it from their parent's runtime.
    """
    for graph in graphs.values():
        graph.store = store
