"""How the run service finds an assistant, its graph and a run's context.

`RunsService` (server/runs/service.py) is built on `AssistantLookup`: every surface (the
runs API, LangServe, AG-UI, crons, and whatever accepts an assistant id) resolves an
assistant and builds a run's context through these methods, so one rule holds everywhere.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from server.auth.identity import Identity
from server.auth.langgraph_auth import Filters, authorize
from server.run_policy import RunPolicy
from server.runs.assistants import Assistant, Assistants, AssistantStore, as_uuid
from server.runs.authorized_assistants import assistant_filters, shown
from server.runs.context import ContextRefused, run_context

Graph = CompiledStateGraph[Any, Any, Any, Any]


class RunRejected(ValueError):
    """The run body cannot be run (422), with what to change."""


class Forbidden(PermissionError):
    """The caller's credential lacks a scope this run needs (403)."""


class NotFound(LookupError):
    """No such thread, run or assistant for this identity (404)."""


class AssistantLookup:
    """Assistants and run contexts (the run service declares these fields)."""

    graphs: dict[str, Graph]
    assistants: Assistants
    """The registry's system assistants."""
    saved: AssistantStore | None
    """Saved assistants (None: only the system ones)."""
    policy: RunPolicy

    async def find_assistant(self, identity: Identity, key: str) -> Assistant:
        """Return the assistant `key` (a graph name or an assistant id) `identity` may run.

        Every surface looks assistants up here: a system assistant is everyone's, a saved
        one its owner's only (another identity's is NotFound, as a missing one), and only
        if the project's `assistants.read` rule (`ORCA_AUTH_PATH`) shows it. A run on a
        graph's system assistant is the `threads.create_run` rule's alone, as on
        langgraph-api, so an owner filter on assistants does not stop every run.
        """
        found = self.assistants.get(key)
        if found is not None:
            return found
        assistant_id = as_uuid(key)
        if assistant_id is not None and self.saved is not None:
            filters = await assistant_filters(identity, "read", assistant_id)
            saved = await self.saved.get(assistant_id, identity.id)
            if saved is not None and shown(saved, filters):
                return saved
        raise self._missing(key)

    async def assistant_for(
        self,
        identity: Identity,
        key: str,
        action: str = "read",
        value: dict[str, Any] | None = None,
    ) -> tuple[Assistant, Filters | None]:
        """Return the assistant `key` for the assistants API's `action`, and the filters.

        The project's `assistants.<action>` rule (`ORCA_AUTH_PATH`) is asked first, for
        system assistants too; it sees `assistant_id` and `value`, which is updated with
        what the handler leaves in it. An assistant its filters do not match is NotFound.
        """
        system = self.assistants.get(key)
        assistant_id = system.assistant_id if system else as_uuid(key) or key
        seen = {**(value or {}), "assistant_id": assistant_id}
        filters = await authorize(identity, "assistants", action, seen)
        if value is not None:
            value.update(seen)
        found = system
        if found is None and as_uuid(key) is not None and self.saved is not None:
            found = await self.saved.get(assistant_id, identity.id)
        if found is None or not shown(found, filters):
            raise self._missing(key)
        return found, filters

    def _missing(self, key: str) -> NotFound:
        return NotFound(
            f"no assistant {key!r}; use one of {[a.graph_id for a in self.assistants.all]} "
            "or the id of one you saved"
        )

    def graph_for(self, assistant: Assistant) -> Graph:
        """Return the assistant's graph (a saved one may name a graph no longer served)."""
        graph = self.graphs.get(assistant.graph_id)
        if graph is None:
            raise RunRejected(
                f"assistant {assistant.assistant_id!r} runs graph {assistant.graph_id!r}, "
                f"which this server no longer serves; one of {sorted(self.graphs)}"
            )
        return graph

    def context_for(
        self,
        graph: Graph,
        given: dict[str, Any] | None,
        identity: Identity,
        *,
        config: dict[str, Any] | None = None,
        assistant: Assistant | None = None,
    ) -> Any:
        """Return the run's context as the run row stores it (JSON), checked.

        The one rule for every graph and surface (`server/runs/context.py`): the schema's
        defaults, under the assistant's saved values, under the run's `configurable`
        values that name context fields, under the run's `context`.
        """
        try:
            return run_context(
                graph.context_schema,
                self.policy,
                identity,
                run_context=given,
                run_config=config,
                assistant_context=assistant.context if assistant else None,
                assistant_config=assistant.config if assistant else None,
            )
        except ContextRefused as refused:
            raise RunRejected(str(refused)) from None
