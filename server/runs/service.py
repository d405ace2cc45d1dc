"""The rules of the threads-and-runs API; the routes only translate HTTP.

Threads, run creation under a multitask strategy, waiting, joining and cancelling.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from graphs.context import Context
from server.auth.identity import Identity
from server.auth.langgraph_auth import authorize, matches
from server.observability.runs import RunTelemetry
from server.run_policy import RunPolicy, RunRefused
from server.runs import authorized
from server.runs.assistants import Assistant, Assistants, AssistantStore, merge_config
from server.runs.authorized import run_value, stamped_metadata, thread_filters, visible_thread
from server.runs.context import executed_context, with_auth_user
from server.runs.events import EventLog
from server.runs.execute import Outcome, execute
from server.runs.latest_wins import settle
from server.runs.local import LocalRun, SurfaceBody, outcome_from_state
from server.runs.lookup import AssistantLookup, Forbidden, Graph, NotFound, RunRejected
from server.runs.records import (
    RunRecord,
    RunStore,
    ThreadBusy,
    ThreadExists,
    ThreadExpiry,
    ThreadFilter,
    ThreadMissing,
    ThreadRecord,
    ThreadStatus,
    now,
)
from server.runs.schema import RunCreate, checkpoint_ref
from server.runs.serde import jsonable
from server.runs.signals import Signals
from server.runs.starting import PreparedRun, asks_of_the_state, command_of, rehearse_start
from server.runs.state import status_of
from server.runs.thread_ids import MAX_THREAD_ID_CHARS, check_thread_id
from server.runs.thread_locks import ThreadLocks
from server.runs.waiting import RunWaiter, active_check, stopped
from server.runs.webhooks import WebhookRefused, check_webhook
from server.runs.workers import RunWorkers
from server.store.runs import owned_store

__all__ = ["MAX_THREAD_ID_CHARS", "Forbidden", "Graph", "NotFound", "RunRejected", "RunsService"]


@dataclass
class RunsService(AssistantLookup):
    """Threads and runs of every identity, over one store and this process's workers."""

    store: RunStore
    events: EventLog
    signals: Signals
    workers: RunWorkers
    graphs: dict[str, Graph]
    assistants: Assistants
    policy: RunPolicy
    """What callers may set and send for a run (the same check on every surface)."""
    recursion_limit: int = 25
    webhook_allow_private: bool = False
    telemetry: RunTelemetry | None = None
    """Run metrics (`orca_workflow_runs_total{surface=...}`) and the run log line."""
    saved: AssistantStore | None = None
    """Saved assistants (None: only the registry's system assistants)."""
    thread_deleted: list[Callable[[str, str], Awaitable[object]]] = field(default_factory=list)
    """Called with `(thread_id, owner)` as a thread is deleted (the crons on it go too)."""
    thread_locks: ThreadLocks = field(default_factory=ThreadLocks)  # one state write at once
    default_ttl: ThreadExpiry | None = None
    """The TTL of a thread created without one (`ORCA_THREAD_TTL`'s `default_ttl`)."""
    _local: dict[str, LocalRun] = field(default_factory=dict)
    """Surface runs started here whose first attempt has not begun (`start_local`)."""

    # Threads ------------------------------------------------------------------
    async def create_thread(
        self,
        identity: Identity,
        thread_id: str | None,
        metadata: dict[str, Any],
        if_exists: str,
        ttl: ThreadExpiry | None = None,
    ) -> ThreadRecord:
        """Create a thread for `identity` (ThreadExists when the id is taken).

        The project's `threads.create` rule (`ORCA_AUTH_PATH`) may refuse it or change the
        metadata stored; an existing thread its filters do not match is taken too. A chosen
        id longer than `MAX_THREAD_ID_CHARS`, or holding `/` (no `/threads/{id}` route could
        reach it), is refused (RunRejected, 422) on every surface. A new thread expires
        after `ttl`, or `default_ttl` (every surface's threads: langgraph-api's rule).
        """
        check_thread_id(thread_id)
        thread_id = thread_id or str(uuid.uuid4())
        metadata, filters = await stamped_metadata(identity, thread_id, metadata, if_exists)
        thread = await self.store.create_thread(
            thread_id, identity.id, metadata, if_exists=if_exists, ttl=ttl or self.default_ttl
        )
        if not matches(thread.metadata, filters):
            raise ThreadExists(thread_id)
        return thread

    async def thread(
        self, identity: Identity, thread_id: str, action: str = "read"
    ) -> ThreadRecord:
        """Return the identity's thread, if the project's `threads.<action>` rule lets it."""
        filters = await thread_filters(identity, action, thread_id)
        thread = await visible_thread(self.store, identity, thread_id, filters)
        if thread is None:
            raise NotFound(f"no thread {thread_id!r}")
        return thread

    async def update_thread(
        self, identity: Identity, thread_id: str, metadata: dict[str, Any]
    ) -> ThreadRecord | None:
        """Merge metadata (as the project's `threads.update` rule leaves it) into the thread's."""
        value: dict[str, Any] = {"thread_id": thread_id, "metadata": dict(metadata)}
        filters = await authorize(identity, "threads", "update", value)
        if await visible_thread(self.store, identity, thread_id, filters) is None:
            raise NotFound(f"no thread {thread_id!r}")
        return await self.store.update_thread(thread_id, identity.id, value["metadata"] or {})

    async def search_threads(
        self, identity: Identity, where: ThreadFilter, **page: Any
    ) -> list[ThreadRecord]:
        """Return the identity's matching threads (`limit`, `offset`, `sort_by`, `descending`)."""
        return await authorized.search_threads(self.store, identity, where, **page)

    async def count_threads(self, identity: Identity, where: ThreadFilter) -> int:
        """Count the identity's matching threads."""
        return await authorized.count_threads(self.store, identity, where)

    async def claim_thread(
        self, identity: Identity, thread_id: str, assistant: Assistant
    ) -> ThreadRecord:
        """Return the identity's thread `thread_id`, creating it for the assistant if new.

        The one way every surface (LangServe, AG-UI, the runs API) comes to own a thread:
        a thread of another identity is NotFound, whatever the surface.
        """
        marks = {"graph_id": assistant.graph_id, "assistant_id": assistant.assistant_id}
        run = {"assistant_id": assistant.assistant_id, "metadata": {}, "kwargs": {}}
        filters = await thread_filters(identity, "create_run", thread_id, **run)
        existing = await self.store.get_thread(thread_id, identity.id)
        if existing is not None:
            if not matches(existing.metadata, filters):
                raise NotFound(f"no thread {thread_id!r}")
            return existing
        try:
            return await self.create_thread(identity, thread_id, marks, "do_nothing")
        except ThreadExists:
            raise NotFound(f"no thread {thread_id!r}") from None

    async def delete_thread(self, identity: Identity, thread_id: str) -> None:
        """Delete the thread, its checkpoints, runs, stream buffers and crons (runs cancelled)."""
        thread = await self.thread(identity, thread_id, "delete")
        for run in (active := await self.store.active_runs(thread.thread_id)):
            await self.cancel(run, "interrupt")
        await stopped(self.wait, active)  # their last writes land before the checkpoints go
        graph = self.graph_of(thread)
        saver = graph.checkpointer if graph is not None else None
        if saver is not None and not isinstance(saver, bool):
            await saver.adelete_thread(thread_id)
        for listener in self.thread_deleted:  # before the thread, so none fires on it again
            await listener(thread_id, identity.id)
        await self.store.delete_thread(thread_id, identity.id)

    def graph_of(self, thread: ThreadRecord) -> Graph | None:
        """Return the graph the thread's runs use (None before its first run)."""
        return self.graphs.get(str(thread.metadata.get("graph_id")))

    # Runs ---------------------------------------------------------------------
    def check_input(
        self, graph_id: str, run_input: Any, identity: Identity, *, whole: bool = False
    ) -> None:
        """Refuse input the caller may not send (403, 422); a run's `whole` input must fit (422)."""
        try:
            self.policy.check_input(graph_id, run_input, identity)
            if whole:
                self.policy.check_fit(graph_id, run_input)
        except RunRefused as refused:
            if refused.status == 403:
                raise Forbidden(str(refused)) from None
            raise RunRejected(str(refused)) from None

    def _kwargs(
        self, body: RunCreate, assistant: Assistant, graph: Graph, identity: Identity
    ) -> dict[str, Any]:
        # Unknown nodes in interrupt_before/after are ignored, as LangGraph and langgraph-api do.
        checkpoint = checkpoint_ref(body.checkpoint, body.checkpoint_id)
        graph_id = assistant.graph_id
        self.check_input(graph_id, body.input, identity, whole=True)
        if body.command is not None and body.command.update is not None:
            self.check_input(graph_id, body.command.update, identity)
        return {
            "input": body.input,
            "command": body.command.model_dump(exclude_unset=True) if body.command else None,
            # The assistant's config and context go under the run's (langgraph-api's rule).
            # The caller as LangGraph's server hands it to graphs, set here, never taken
            # from the caller (`configurable.langgraph_auth_user`, ...).
            "config": with_auth_user(merge_config(assistant.config, body.config), identity),
            "context": self.context_for(
                graph, body.context, identity, config=body.config, assistant=assistant
            ),
            "stream_mode": body.modes(),
            "stream_subgraphs": body.stream_subgraphs,
            "interrupt_before": body.interrupt_before,
            "interrupt_after": body.interrupt_after,
            "checkpoint": checkpoint,
            "durability": body.durability,
            "webhook": str(body.webhook) if body.webhook else None,
            "tenant": identity.tenant,
            "surface": "runs",  # as LangServe's and AG-UI's runs name theirs
        }

    async def create_run(
        self,
        identity: Identity,
        thread_id: str | None,
        body: RunCreate,
        *,
        start_now: bool = True,
        run_id: str | None = None,
    ) -> tuple[RunRecord, asyncio.Task[Outcome | None] | None]:
        """Queue or start a run; return it and, when this process executes it, its task.

        `thread_id=None` is a stateless run: a temporary thread (deleted afterwards unless
        `on_completion="keep"`). `run_id` is given by a caller that must not start the same
        run twice (a cron firing): a second insert of the id fails on the primary key.
        """
        prepared = await self.prepare_run(identity, thread_id, body, run_id=run_id)
        return await self.start_run(identity, thread_id, prepared, start_now=start_now)

    async def prepare_run(
        self, identity: Identity, thread_id: str | None, body: RunCreate, *, run_id: str | None
    ) -> PreparedRun:
        """Check a run and build its record, writing nothing.

        A batch prepares every run before it starts any, so a refused one starts none.
        """
        assistant = await self.find_assistant(identity, body.assistant_id)
        graph = self.graph_for(assistant)
        kwargs = self._kwargs(body, assistant, graph, identity)
        command_of(kwargs)  # a malformed `goto` is refused now, not when the run executes
        if body.webhook is not None:
            try:
                await check_webhook(str(body.webhook), allow_private=self.webhook_allow_private)
            except WebhookRefused as refused:
                raise RunRejected(str(refused)) from None
        value = run_value(body, thread_id, assistant.assistant_id, kwargs)
        filters = await authorize(identity, "threads", "create_run", value)
        marks = {"graph_id": assistant.graph_id, "assistant_id": assistant.assistant_id}
        run = RunRecord(
            run_id=run_id or str(uuid.uuid4()),
            thread_id=thread_id or "",  # a stateless run's is created below
            assistant_id=assistant.assistant_id,
            graph_id=assistant.graph_id,
            owner=identity.id,
            kwargs=kwargs,
            metadata=dict(value.get("metadata") or {}),  # as the project's rule left it
            multitask_strategy=body.multitask_strategy,
        )
        if body.after_seconds:
            run.not_before = now() + timedelta(seconds=body.after_seconds)
        return PreparedRun(run, body, filters, marks)

    async def start_run(
        self,
        identity: Identity,
        thread_id: str | None,
        prepared: PreparedRun,
        *,
        start_now: bool = True,
    ) -> tuple[RunRecord, asyncio.Task[Outcome | None] | None]:
        """Store a prepared run on its thread (created first when stateless or asked for)."""
        run, body, filters, marks = prepared.run, prepared.body, prepared.filters, prepared.marks
        kwargs = run.kwargs
        hot = start_now and not body.after_seconds and self.workers.can_start_now
        busy = False
        rehearsed = asks_of_the_state(kwargs)
        if hot and thread_id is not None and filters is None and not rehearsed:
            # The hot path: one statement checks that the thread is the caller's and inserts
            # the run already claimed by this process, if the thread runs nothing. Any
            # other answer takes the path below, which says which (404, 409, a queue).
            try:
                return run, await self._insert_claimed(run, marks)
            except ThreadMissing:
                pass
            except ThreadBusy:
                busy = True
        if thread_id is None:
            if rehearsed:  # on the empty state its temporary thread will start from
                await rehearse_start(self.graphs[run.graph_id], run, new_thread=True)
            thread = await self.create_thread(identity, None, {}, "raise")
            kwargs["temporary"] = body.on_completion == "delete"
        else:
            asked = body.if_not_exists
            found = await authorized.thread_for_run(self.store, identity, thread_id, filters, asked)
            if rehearsed:  # before a new thread is made: a refused run leaves none behind
                await rehearse_start(self.graphs[run.graph_id], run, new_thread=found is None)
            try:
                thread = found or await self.create_thread(identity, thread_id, {}, "do_nothing")
            except ThreadExists:  # another identity's: not found, as on every surface
                raise NotFound(f"no thread {thread_id!r}") from None
        run.thread_id = thread.thread_id
        strategy = body.multitask_strategy
        try:
            if hot and not busy:  # busy: this thread was just tried
                try:
                    return run, await self._insert_claimed(run, marks)
                except ThreadBusy:
                    run.status, run.worker, run.attempt, run.lease_until = "pending", None, 0, None
            if strategy == "reject" and await self.store.active_runs(thread.thread_id):
                raise ThreadBusy(thread.thread_id)
            await self.store.insert_run(
                run, claim_for=None, lease_s=self.workers.lease_s, thread_metadata=marks
            )
            await settle(self.store, run, self.cancel)  # interrupt, rollback: the latest runs
        except ThreadMissing:
            raise NotFound(f"no thread {thread.thread_id!r}") from None  # deleted meanwhile
        if start_now and not body.after_seconds and not self.workers.has_room:
            self.workers.note_queued()  # later runs queue behind it (fairness, workers.py)
        await self.signals.publish_work()
        return run, None

    async def _insert_claimed(
        self, run: RunRecord, marks: dict[str, Any]
    ) -> asyncio.Task[Outcome | None]:
        """Insert the run claimed by this process (ThreadBusy unless the thread is idle)."""
        await self.store.insert_run(
            run,
            claim_for=self.workers.id,
            lease_s=self.workers.lease_s,
            only_if_idle=True,
            thread_metadata=marks,
        )
        task = self.workers.start_claimed(run)
        await settle(self.store, run, self.cancel)
        return task

    async def start_local(
        self,
        identity: Identity,
        graph_id: str,
        thread_id: str,
        *,
        surface: str,
        body: SurfaceBody,
        shown_input: Any = None,
        context: Context | dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        streaming: bool = False,
        thread_claimed: bool = False,
    ) -> LocalRun:
        """Start a run that a surface (LangServe, AG-UI) executes here with its own body.

        The thread is claimed and the run recorded as for the runs API; a thread with a
        pending or running run refuses it (ThreadBusy: the `reject` strategy, 409).
        `graph_id` is a graph name or an assistant id (`find_assistant`). `context` is a
        `Context` the surface already checked with the run policy, or the caller's values,
        which go through `context_for` like a runs API run's (absent: the defaults).
        """
        assistant = await self.find_assistant(identity, graph_id)
        graph = self.graph_for(assistant)
        stored = (
            vars(context)
            if isinstance(context, Context)
            else self.context_for(graph, context, identity, assistant=assistant)
        )
        if not thread_claimed:  # LangServe claims before its stream begins (for a 404 status)
            await self.claim_thread(identity, thread_id, assistant)
        run = RunRecord(
            run_id=str(uuid.uuid4()),
            thread_id=thread_id,
            assistant_id=assistant.assistant_id,
            graph_id=assistant.graph_id,
            owner=identity.id,
            kwargs={
                "surface": surface,
                # A later attempt (this process died) resumes from the last checkpoint.
                "input": None,
                "surface_input": jsonable(shown_input),
                "context": stored,
                "stream_mode": ["values"],
                "streaming": streaming,
                "tenant": identity.tenant,
            },
            metadata=dict(metadata or {}),
            multitask_strategy="reject",
        )
        local = LocalRun(run, body)
        self._local[run.run_id] = local
        marks = {"graph_id": assistant.graph_id, "assistant_id": assistant.assistant_id}
        try:
            local.task = await self._insert_claimed(run, marks)
        except ThreadMissing:
            self._local.pop(run.run_id, None)
            raise NotFound(f"no thread {thread_id!r}") from None  # deleted since the claim
        except BaseException:
            self._local.pop(run.run_id, None)
            raise
        return local

    async def run_of(
        self, identity: Identity, thread_id: str | None, run_id: str, action: str = "read"
    ) -> RunRecord:
        """Return the identity's run (on `thread_id`, when given), or raise NotFound.

        The project's `threads.<action>` rule decides (`read`; `update` to cancel, `delete`).
        """
        run = await self.store.get_run(run_id, identity.id)
        if run is None or (thread_id is not None and run.thread_id != thread_id):
            raise NotFound(f"no run {run_id!r}")
        filters = await thread_filters(identity, action, run.thread_id, run_id=run_id)
        if filters and await visible_thread(self.store, identity, run.thread_id, filters) is None:
            raise NotFound(f"no run {run_id!r}")
        return run

    async def execute(self, run: RunRecord, events: Any) -> Outcome:
        """Execute one attempt (the workers' `execute`): a surface's body, or the graph's stream."""
        graph = self.graphs[run.graph_id]
        context = executed_context(graph.context_schema, run.kwargs.get("context"))
        telemetry = self.telemetry
        surface = str(run.kwargs.get("surface") or "runs")
        streaming = bool(run.kwargs.get("streaming"))
        timed = (
            telemetry.run(
                run.graph_id, surface, run.thread_id, streaming=streaming, identity=run.owner
            )
            if telemetry
            else nullcontext()
        )
        local = self._local.pop(run.run_id, None)
        # The graphs' `runtime.store` is the run owner's, whichever surface started the run.
        async with owned_store(run.owner), timed as record:
            if local is not None:
                events.emit("metadata", {"run_id": run.run_id, "attempt": run.attempt})
                await local.execute(events)
                outcome = await outcome_from_state(graph, run, events)
            else:
                outcome = await execute(
                    graph,
                    run,
                    events,
                    context=context,
                    recursion_limit=self.recursion_limit,
                    extra_config=telemetry.config_for(run.graph_id) if telemetry else None,
                )
            if record is not None:
                record.outcome = outcome.metric_outcome
        if outcome.paused:
            await self._interrupts_by_task(graph, run, outcome)
        return outcome

    @staticmethod
    async def _interrupts_by_task(graph: Graph, run: RunRecord, outcome: Outcome) -> None:
        """Key the pending interrupts by task, as langgraph-api's thread object does."""
        snapshot = await graph.aget_state({"configurable": {"thread_id": run.thread_id}})
        outcome.interrupts_by_task = {
            task.id: jsonable(task.interrupts) for task in snapshot.tasks if task.interrupts
        }

    async def cancel(self, run: RunRecord, action: str) -> None:
        """Cancel a pending run at once, or ask the worker executing it to stop."""
        if run.status == "pending" and await self.store.cancel_pending(run.run_id, action):
            if action == "rollback":
                await self.store.delete_run(run.run_id)
            self.signals.wake_events(run.run_id)
            await self._unbusy(run)
            return
        await self.store.request_cancel(run.run_id, action)  # outlives a missed notification
        await self.signals.publish_cancel(run.run_id, action)

    async def _unbusy(self, run: RunRecord) -> None:
        """Give a thread whose last queued run was cancelled unstarted its status back.

        Queuing the run made the thread `busy`; no worker will finish it, so the status is
        read from the thread's last checkpoint (langgraph-api makes it `idle`).
        """
        if await self.store.active_runs(run.thread_id):
            return  # another run keeps it busy (and will set its status when it ends)
        status: ThreadStatus = await status_of(self.graphs[run.graph_id], run.thread_id)
        await self.store.set_thread_state(run.thread_id, status=status)

    async def wait(self, run: RunRecord, task: asyncio.Task[Outcome | None] | None) -> RunRecord:
        """Wait until the run is final; return its record (its `result` is the answer)."""
        # Built per wait (a µs): `setup.py` gives the service its workers after construction.
        return await RunWaiter(self.store, self.events, self.signals, self.workers).wait(run, task)

    def is_active(self, run_id: str) -> Any:
        """Return an async callable telling whether the run is pending or running."""
        return active_check(self.store, run_id)
