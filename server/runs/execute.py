"""Execute one attempt of a run: the graph's stream turned into the Agent Server's events.

Event names and payloads are the ones `langgraph-sdk` and `RemoteGraph` parse: `metadata`
first, then one event per chunk of each requested stream mode (`mode|ns` for subgraph
chunks when `stream_subgraphs`), `messages/metadata|partial|complete` for `messages`,
`messages` `[message, metadata]` for `messages-tuple`, astream_events dicts for
`events`; `error` if it fails. Checkpoints in `debug` and `checkpoints` carry
`checkpoint`/`parent_checkpoint` as `/history` shows them. The runs API adds `end` to its
event log after the outcome is recorded (readers stop there; it is not sent to clients).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessageChunk, message_chunk_to_message
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Send

from server.runs.context import AUTH_USER_KEYS
from server.runs.events import RunEvents
from server.runs.lookup import RunRejected
from server.runs.patient_saver import patient
from server.runs.records import RunRecord, RunStatus
from server.runs.serde import jsonable
from server.runs.state import stream_checkpoint

INTERRUPT = "__interrupt__"
SERVER_METADATA = frozenset({"tenant", *AUTH_USER_KEYS})
"""Checkpoint metadata only the server writes: a caller's would pose as another identity."""
NS_SEP = "|"


@dataclass
class Outcome:
    """How an attempt ended, for the run row, the thread row and `/wait`."""

    status: RunStatus
    result: Any
    values: Any = None
    interrupts: list[Any] = field(default_factory=list)
    paused: bool = False
    """The graph stopped on an interrupt (dynamic, or `interrupt_before/after`). The run
    is then `success`, as langgraph-api records it (its worker sets `interrupted` only on
    a cancel); the thread is `interrupted` and holds the pending interrupts."""
    interrupts_by_task: dict[str, list[Any]] = field(default_factory=dict)
    """The pending interrupts by task id, as the thread object shows them."""
    cancel_reason: str | None = None
    """The cancel action of a cancelled run (status `interrupted`, not paused)."""

    @property
    def failed(self) -> bool:
        """Whether the run ended in an error (its stream then ends with `error`)."""
        return self.status in ("error", "timeout")

    @property
    def metric_outcome(self) -> str:
        """The run's `outcome` in the metrics: `interrupted` when it paused, `cancelled`."""
        if self.paused:
            return "interrupted"
        return "cancelled" if self.cancel_reason else self.status


def command_from(payload: dict[str, Any]) -> Command[Any]:
    """Turn the SDK's `command` body into a LangGraph `Command`.

    Raises:
        RunRejected: a `goto` object is not a `Send` (`{"node": <name>, "input": ...}`);
            every surface building a `Command` learns it here, as a 422.
    """
    goto = payload.get("goto")
    targets = goto if isinstance(goto, list) else [goto]
    for target in targets:
        if isinstance(target, dict) and not isinstance(target.get("node"), str):
            raise RunRejected(
                'command.goto: a Send is {"node": "<a node of the graph>", "input": ...}; '
                f"got {target!r}"
            )
    if isinstance(goto, dict):
        goto = Send(goto["node"], goto.get("input"))
    elif isinstance(goto, list):
        goto = [Send(g["node"], g.get("input")) if isinstance(g, dict) else g for g in goto]
    update = payload.get("update")
    if isinstance(update, list):
        update = [tuple(pair) for pair in update]
    return Command(resume=payload.get("resume"), update=update, goto=goto or ())


def run_marks(run: RunRecord) -> dict[str, Any]:
    """The metadata every checkpoint of the run carries, on every surface.

    `rollback` finds the checkpoints a cancelled run wrote by their `run_id`
    (`checkpoints/rollback.py`).
    """
    return {
        "run_id": run.run_id,
        "thread_id": run.thread_id,
        "graph_id": run.graph_id,
        "assistant_id": run.assistant_id,
        "run_attempt": run.attempt,
    }


def run_config(run: RunRecord, *, recursion_limit: int) -> RunnableConfig:
    """Build the graph config: caller's config, server's thread and run bookkeeping."""
    given: dict[str, Any] = dict(run.kwargs.get("config") or {})
    # LangGraph keeps its own machinery under `__`-prefixed configurable keys.
    configurable = {
        k: v for k, v in (given.get("configurable") or {}).items() if not k.startswith("__")
    }
    configurable["thread_id"] = run.thread_id
    checkpoint = run.kwargs.get("checkpoint") or {}
    if checkpoint.get("checkpoint_id"):
        configurable["checkpoint_id"] = checkpoint["checkpoint_id"]
        configurable["checkpoint_ns"] = checkpoint.get("checkpoint_ns") or ""
    if run.kwargs.get("tenant") is not None:  # the caller's identity decides, never its config
        configurable["tenant"] = run.kwargs["tenant"]
    sent = {**(given.get("metadata") or {}), **run.metadata}
    metadata = {k: v for k, v in sent.items() if k not in SERVER_METADATA} | run_marks(run)
    # A caller may ask for fewer steps than ORCA_RECURSION_LIMIT, never for more.
    asked = given.get("recursion_limit")
    limit = min(int(asked), recursion_limit) if isinstance(asked, int) else recursion_limit
    return RunnableConfig(
        configurable=configurable,
        metadata=metadata,
        tags=[t for t in given.get("tags") or [] if isinstance(t, str)],
        recursion_limit=max(1, limit),
        # Attempt 1 keeps the run's id for tracing; a retry gets a fresh one.
        run_id=uuid.UUID(run.run_id) if run.attempt <= 1 else uuid.uuid4(),
    )


class StreamTranslator:
    """Turn `astream` chunks into SSE events, remembering what the outcome needs."""

    def __init__(self, requested: list[str], subgraphs: bool, events: RunEvents) -> None:
        self.requested = set(requested)
        self.subgraphs = subgraphs
        self.events = events
        self.values: Any = None
        self.interrupts: list[Any] = []
        self.paused = False
        self._messages: dict[str, BaseMessageChunk | Any] = {}
        self._complete: set[str] = set()
        """Ids of the messages announced `messages/complete` in this run."""

    @property
    def graph_modes(self) -> list[str]:
        """Return the modes to ask the graph for."""
        modes = (self.requested - {"events", "messages-tuple"}) | {"values", "updates"}
        if "messages-tuple" in self.requested:
            modes.add("messages")
        return sorted(modes)

    def _name(self, mode: str, ns: tuple[str, ...]) -> str:
        return NS_SEP.join((mode, *ns)) if self.subgraphs and ns else mode

    def take_part(self, part: tuple[Any, ...]) -> None:
        """Handle `(mode, chunk)`, or `(ns, mode, chunk)` when streaming subgraphs."""
        if self.subgraphs:
            ns, mode, chunk = part
            self.take(tuple(ns), mode, chunk)
        else:
            mode, chunk = part
            self.take((), mode, chunk)

    def take(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        """Handle one chunk of the graph's stream."""
        if mode == "values" and not ns:
            self.values = chunk
            self._completed(chunk)
        if mode in ("debug", "checkpoints"):
            chunk = _with_checkpoints(mode, chunk)
        if mode == "updates" and isinstance(chunk, dict) and INTERRUPT in chunk and not ns:
            self.paused = True
            self.interrupts.extend(chunk[INTERRUPT])
            if "updates" not in self.requested and chunk[INTERRUPT]:
                # What langgraph-api does: a values reader still learns of the interrupt.
                self.events.emit(self._name("values", ns), chunk)
        if mode == "messages":
            self._message(ns, chunk)
        elif mode in self.requested:
            self.events.emit(self._name(mode, ns), chunk)

    def _message(self, ns: tuple[str, ...], chunk: tuple[Any, dict[str, Any]]) -> None:
        if "messages-tuple" in self.requested:
            self.events.emit(self._name("messages", ns), chunk)
        if "messages" not in self.requested:
            return
        message, metadata = chunk
        known = self._messages.get(message.id)
        if known is None:
            self._messages[message.id] = message
            self.events.emit("messages/metadata", {message.id: {"metadata": metadata}})
        else:
            self._messages[message.id] = known + message
        merged = self._messages[message.id]
        if isinstance(message, BaseMessageChunk):
            self.events.emit("messages/partial", [merged])
        else:
            self._complete.add(message.id)
            self.events.emit("messages/complete", [message_chunk_to_message(merged)])

    def _completed(self, values: Any) -> None:
        """Announce `messages/complete` for the messages new in the state's values.

        What langgraph-api's reference server does: a message is complete once a node has
        returned it (it is then in the root graph's values), each id once per run, the
        input's messages included; a streamed reply's partials end with it.
        """
        if "messages" not in self.requested or not isinstance(values, dict):
            return
        found = values.get("messages")
        messages = found if isinstance(found, list) else [found] if found else []
        new = []
        for message in messages:
            message_id = (
                message.get("id") if isinstance(message, dict) else getattr(message, "id", None)
            )
            if isinstance(message_id, str) and message_id not in self._complete:
                self._complete.add(message_id)
                new.append(message)
        if new:
            self.events.emit("messages/complete", new)


def _with_checkpoints(mode: str, chunk: Any) -> Any:
    """Give a `debug` checkpoint (or a `checkpoints` chunk) `/history`'s checkpoint shape."""
    if mode == "checkpoints" and isinstance(chunk, dict):
        return stream_checkpoint(chunk)
    if isinstance(chunk, dict) and chunk.get("type") == "checkpoint":
        return {**chunk, "payload": stream_checkpoint(chunk["payload"])}
    return chunk


async def execute(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    run: RunRecord,
    events: RunEvents,
    *,
    context: Any,
    recursion_limit: int,
    extra_config: RunnableConfig | None = None,
) -> Outcome:
    """Run the graph for `run`, emitting its events; return how it ended.

    `extra_config` is merged in (the service's metrics callbacks and their tags). The
    graph runs over a checkpointer that retries while the database is away (within the
    attempt's lease), and pauses while the store is far behind on its events.
    """
    graph = patient(graph)
    kwargs = run.kwargs
    config = merge_configs(run_config(run, recursion_limit=recursion_limit), extra_config)
    graph_input = command_from(kwargs["command"]) if kwargs.get("command") else kwargs.get("input")
    translator = StreamTranslator(
        list(kwargs.get("stream_mode") or ["values"]), bool(kwargs.get("stream_subgraphs")), events
    )
    options: dict[str, Any] = {
        "stream_mode": translator.graph_modes,
        "subgraphs": translator.subgraphs,
        "interrupt_before": kwargs.get("interrupt_before"),
        "interrupt_after": kwargs.get("interrupt_after"),
        "context": context,
    }
    if kwargs.get("durability"):
        options["durability"] = kwargs["durability"]
    events.emit("metadata", {"run_id": run.run_id, "attempt": run.attempt})
    if "events" in translator.requested:
        root = str(config["run_id"])
        async for event in graph.astream_events(graph_input, config, version="v2", **options):
            if event["event"] == "on_chain_stream" and event["run_id"] == root:
                translator.take_part(event["data"]["chunk"])
            elif "langsmith:hidden" not in (event.get("tags") or ()):
                events.emit("events", event)
            await events.pace()
    else:
        async for part in graph.astream(graph_input, config, **options):
            translator.take_part(part)
            await events.pace()
    values = jsonable(translator.values)
    if translator.paused:
        interrupts = jsonable(translator.interrupts)
        result = {INTERRUPT: interrupts} if interrupts else values
        return Outcome("success", result, values, interrupts, paused=True)
    return Outcome("success", values, values)


def failure(error: BaseException) -> dict[str, Any]:
    """Return the `error` event / `__error__` payload for an exception."""
    return {"error": type(error).__name__, "message": str(error)}
