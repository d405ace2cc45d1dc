"""The protocol's commands (`POST /threads/{id}/commands`), each through the run service.

Runs start with `RunsService.create_run` (the same checks, policy and multitask strategy
as the runs API), threads are claimed with `claim_thread` (another identity's thread is
`no_such_run`, 404, as the runs API's 404), and state is read from the checkpointer as
`/threads/{id}/state` does. A command the protocol names but Orca does not implement is
`not_supported`; one it does not name is `unknown_command`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.auth.identity import Identity
from server.runs.assistants import Assistant
from server.runs.protocol.journal import Bells, replay, thread_runs
from server.runs.protocol.mapping import Namespace
from server.runs.protocol.params import (
    ForkParams,
    ListCheckpointsParams,
    RespondParams,
    StartParams,
    StateGetParams,
    TreeParams,
)
from server.runs.records import ThreadBusy, ThreadRecord
from server.runs.schema import RunCreate
from server.runs.service import Forbidden, Graph, NotFound, RunRejected, RunsService
from server.runs.state import get_history, get_state, thread_config

PROTOCOL_MODES = ["values", "updates", "messages-tuple", "custom", "tasks"]
"""What a protocol run streams (with subgraphs): every channel Orca derives events for."""

STATUS = {
    "invalid_argument": 400,
    "unknown_command": 400,
    "not_supported": 400,
    "permission_denied": 403,
    "no_such_run": 404,
    "no_such_interrupt": 404,
    "no_such_checkpoint": 404,
    "no_such_namespace": 404,
    "no_such_subscription": 404,
}
"""The HTTP status of each protocol error code on `/commands`."""

NOT_SUPPORTED = {
    "input.inject": "input.inject is not supported: start a run with run.start instead",
    "subscription.subscribe": "use POST /threads/{id}/stream/events (SSE) to subscribe",
    "subscription.unsubscribe": "close the POST /threads/{id}/stream/events request instead",
    "subscription.reconnect": "reopen POST /threads/{id}/stream/events with `since`",
}


class CommandError(Exception):
    """A protocol error answer: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS.get(code, 400)


class Command(BaseModel):
    """The command envelope: `{id, method, params}`."""

    model_config = ConfigDict(extra="ignore")

    id: int = Field(ge=0, le=2**53 - 1, strict=True)
    method: str = Field(min_length=1, max_length=64, strict=True)
    params: dict[str, Any] | None = None


def refused(error: ValidationError, method: str) -> CommandError:
    """Say which parameter of a command is wrong."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "params"
    return CommandError("invalid_argument", f"{method}: {where}: {first.get('msg')}")


@dataclass
class ProtocolCommands:
    """Dispatch the commands of one thread for one identity."""

    runs: RunsService
    bells: Bells

    async def handle(self, identity: Identity, thread_id: str, command: Command) -> Any:
        """Run `command`; return its result, or raise CommandError."""
        handlers: dict[str, tuple[type[BaseModel], Any]] = {
            "run.start": (StartParams, self.run_start),
            "input.respond": (RespondParams, self.input_respond),
            "state.get": (StateGetParams, self.state_get),
            "state.listCheckpoints": (ListCheckpointsParams, self.list_checkpoints),
            "state.fork": (ForkParams, self.state_fork),
            "agent.getTree": (TreeParams, self.agent_tree),
        }
        if command.method in NOT_SUPPORTED:
            raise CommandError("not_supported", NOT_SUPPORTED[command.method])
        if command.method not in handlers:
            known = sorted([*handlers, *NOT_SUPPORTED])
            message = f"unknown command {command.method!r}; this server knows {known}"
            raise CommandError("unknown_command", message)
        model, handler = handlers[command.method]
        try:
            params = model.model_validate(command.params or {})
        except ValidationError as error:
            raise refused(error, command.method) from None
        try:
            return await handler(identity, thread_id, params)
        except NotFound as error:
            raise CommandError("no_such_run", str(error)) from None
        except Forbidden as error:
            raise CommandError("permission_denied", str(error)) from None
        except RunRejected as error:
            raise CommandError("invalid_argument", str(error), 422) from None
        except ThreadBusy:
            message = "the thread has a run in progress; pass multitask_strategy 'enqueue'"
            raise CommandError("invalid_argument", message, 409) from None

    # Runs -----------------------------------------------------------------------------
    async def _start(
        self, identity: Identity, thread_id: str, assistant: Assistant, **fields: Any
    ) -> str:
        body = RunCreate(
            assistant_id=assistant.assistant_id,
            stream_mode=PROTOCOL_MODES,  # type: ignore[arg-type]
            stream_subgraphs=True,
            **fields,
        )
        run, _ = await self.runs.create_run(identity, thread_id, body)
        self.bells.ring(thread_id)
        return run.run_id

    async def run_start(self, identity: Identity, thread_id: str, params: StartParams) -> Any:
        """Start a run; on a thread waiting for input, resume it with `input`."""
        assistant = await self._assistant(identity, params.assistant_id)
        thread = await self.runs.claim_thread(identity, thread_id, assistant)
        config, checkpoint_id = params.split_config()
        fields: dict[str, Any] = {"input": params.input}
        if params.input is not None and await self._pending(thread):
            fields = {"command": {"resume": params.input}}
        run_id = await self._start(
            identity,
            thread_id,
            assistant,
            config=config,
            metadata=params.metadata,
            checkpoint_id=checkpoint_id,
            multitask_strategy=params.strategy(),
            **fields,
        )
        return {"run_id": run_id}

    async def input_respond(self, identity: Identity, thread_id: str, params: RespondParams) -> Any:
        """Resume the thread's interrupts with the responses, in one run."""
        thread = await self.runs.thread(identity, thread_id)
        pending = await self._pending(thread)
        if not pending:
            raise CommandError("invalid_argument", "the thread is not waiting for input")
        answers = params.answers()
        unknown = [interrupt_id for interrupt_id in answers if interrupt_id not in pending]
        if unknown:
            message = f"no pending interrupt {unknown[0]!r}; pending: {sorted(pending)}"
            raise CommandError("no_such_interrupt", message)
        key = str(thread.metadata.get("assistant_id") or thread.metadata.get("graph_id"))
        command: dict[str, Any] = {"resume": answers}
        if params.update is not None:
            command["update"] = params.update
        if params.goto is not None:
            command["goto"] = params.goto
        run_id = await self._start(
            identity,
            thread_id,
            await self._assistant(identity, key),
            command=command,
            config=params.config,
            metadata=params.metadata,
        )
        return {"run_id": run_id}

    async def state_fork(self, identity: Identity, thread_id: str, params: ForkParams) -> Any:
        """Start a run from an earlier checkpoint of the thread."""
        thread, graph = await self._graph(identity, thread_id)
        state = await get_state(graph, thread_id, {"checkpoint_id": params.checkpoint_id})
        if state["created_at"] is None:
            raise CommandError("no_such_checkpoint", f"no checkpoint {params.checkpoint_id!r}")
        key = str(thread.metadata.get("assistant_id") or thread.metadata.get("graph_id"))
        run_id = await self._start(
            identity,
            thread_id,
            await self._assistant(identity, key),
            input=params.input,
            config=params.config,
            checkpoint_id=params.checkpoint_id,
        )
        return {"run_id": run_id, "thread_id": thread_id}

    # State ----------------------------------------------------------------------------
    async def state_get(self, identity: Identity, thread_id: str, params: StateGetParams) -> Any:
        """Return the thread's current values (only `keys`, when given) and checkpoint."""
        _root_only(params.namespace)
        thread = await self.runs.thread(identity, thread_id)
        graph = self.runs.graph_of(thread)
        if graph is None:
            return {"values": {}}
        state = await get_state(graph, thread_id)
        values = state["values"]
        if params.keys is not None and isinstance(values, dict):
            values = {k: v for k, v in values.items() if k in params.keys}
        result: dict[str, Any] = {"values": values}
        checkpoint = state["checkpoint"]
        if checkpoint and checkpoint.get("checkpoint_id"):
            result["checkpoint"] = {
                "id": checkpoint["checkpoint_id"],
                "ns": checkpoint.get("checkpoint_ns") or "",
            }
        return result

    async def list_checkpoints(
        self, identity: Identity, thread_id: str, params: ListCheckpointsParams
    ) -> Any:
        """Return the thread's checkpoints, newest first (`before` pages back)."""
        _root_only(params.namespace)
        thread = await self.runs.thread(identity, thread_id)
        graph = self.runs.graph_of(thread)
        if graph is None:
            return {"checkpoints": []}
        before = {"checkpoint_id": params.before} if params.before else None
        states = await get_history(
            graph, thread_id, limit=params.limit, before=before, metadata=None, checkpoint=None
        )
        return {"checkpoints": [_summary(state) for state in states]}

    async def agent_tree(self, identity: Identity, thread_id: str, params: TreeParams) -> Any:
        """Return the namespaces of a run (the latest, or `run_id`) with their status."""
        await self.runs.thread(identity, thread_id)
        known = await thread_runs(self.runs, thread_id)
        if not known:
            raise CommandError("no_such_run", f"thread {thread_id!r} has no runs yet")
        ordinal = len(known)
        if params.run_id is not None:
            ids = [run.run_id for run in known]
            if params.run_id not in ids:
                raise CommandError("no_such_run", f"no run {params.run_id!r} on this thread")
            ordinal = ids.index(params.run_id) + 1
        mapper = await replay(self.runs, known[ordinal - 1], ordinal)
        return {"tree": _tree((), mapper.namespaces, mapper.graph_name)}

    # Helpers --------------------------------------------------------------------------
    async def _assistant(self, identity: Identity, key: str) -> Assistant:
        try:
            return await self.runs.find_assistant(identity, key)
        except NotFound as error:
            raise CommandError("invalid_argument", str(error), 404) from None

    async def _graph(self, identity: Identity, thread_id: str) -> tuple[ThreadRecord, Graph]:
        thread = await self.runs.thread(identity, thread_id)
        graph = self.runs.graph_of(thread)
        if graph is None:
            raise CommandError("no_such_checkpoint", "the thread has no checkpoints yet")
        return thread, graph

    async def _pending(self, thread: ThreadRecord) -> set[str]:
        """Return the ids of the interrupts the thread waits on (none before its first run)."""
        graph = self.runs.graph_of(thread)
        if graph is None:
            return set()
        snapshot = await graph.aget_state(thread_config(thread.thread_id))
        return {interrupt.id for interrupt in snapshot.interrupts}


def _root_only(namespace: list[str] | None) -> None:
    if namespace:
        raise CommandError("no_such_namespace", "only the root namespace [] has state here")


def _summary(state: dict[str, Any]) -> dict[str, Any]:
    """Return a `/history` state as the protocol's CheckpointSummary."""
    checkpoint = state["checkpoint"] or {}
    metadata = state["metadata"] or {}
    step = metadata.get("step")
    return {
        "id": checkpoint.get("checkpoint_id"),
        "timestamp": state["created_at"],
        "step": step if isinstance(step, int) else -1,
        "metadata": metadata,
        **(
            {"parent_id": p}
            if (p := (state["parent_checkpoint"] or {}).get("checkpoint_id"))
            else {}
        ),
    }


def _tree(namespace: Namespace, statuses: dict[Namespace, str], root: str) -> dict[str, Any]:
    """Return the agent tree under `namespace` (children in name order)."""
    children = sorted(n for n in statuses if len(n) == len(namespace) + 1 and n[:-1] == namespace)
    node: dict[str, Any] = {
        "namespace": list(namespace),
        "status": statuses.get(namespace, "started"),
        "graph_name": namespace[-1].split(":", 1)[0] if namespace else root,
    }
    if children:
        node["children"] = [_tree(child, statuses, root) for child in children]
    return node
