"""`ag-ui-langgraph`'s `LangGraphAgent`, with the input rules this service enforces.

The adapter maps LangGraph events to AG-UI; this subclass changes what it lets in and how
it resumes:
- `forwardedProps` never reaches graph state (0.0.47 merges it into the graph input); only
  the legacy CopilotKit `forwardedProps.command.resume` is read.
- `activity` messages stay in the client (0.0.47 fails the run on them).
- `input.state` may write only the keys a workflow declares writable (none, today).
- resumes are checked against the thread's open interrupts before the graph runs, and
  delivered id-keyed (`Command(resume={interrupt_id: value})`), the form LangGraph 1.x
  needs when several interrupts are open (ag-ui-protocol/ag-ui#2178).
- `STATE_SNAPSHOT` leaves out `messages`: they travel in `MESSAGES_SNAPSHOT`, and a client
  echoes state back on every run.
- the snapshot sent as a node ends is the thread's whole state (`server/agui/run_state.py`),
  not only what the run has written: it replaces the client's state.
- the run's LangGraph context is the server's `Context`, not the caller's configurable.
- a resumed run re-announces the interrupted call (START/END, no ARGS) under the message
  that made it, then its result: each run's stream stands alone (ag-ui-validate AGUI207),
  and `@ag-ui/client`, which appends ARGS to a known call, keeps the arguments it has.
- a tool call that arrives whole in one chunk (Ollama, llama.cpp) keeps its arguments:
  0.0.47 emits `TOOL_CALL_START` for such a chunk and drops the arguments it carried.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from ag_ui.core import EventType, RunAgentInput, RunErrorEvent, RunStartedEvent, ToolCallArgsEvent
from ag_ui_langgraph import LangGraphAgent
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from graphs.context import Context
from server.agui.run_state import RunState, ends_node

WRITABLE_STATE_KEYS: frozenset[str] = frozenset()
"""Keys of `input.state` a client may write. None yet: agent state is the server's."""
HIDDEN_STATE_KEYS = frozenset({"messages"})
"""Keys no `STATE_SNAPSHOT` carries: messages travel in `MESSAGES_SNAPSHOT`."""
REJECTED_PAYLOAD = {"approved": False, "cancelled": True}
_SCHEMA_KEYS: dict[int, tuple[Any, Any]] = {}
"""Per compiled graph (checked by identity): its schema keys never change."""
"""What a `cancelled` resume entry gives the graph."""


class ResumeRefused(Exception):
    """A run whose resume does not fit the thread's open interrupts."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OrcaAgent(LangGraphAgent):
    """One AG-UI run of a compiled workflow, with the server-set run context."""

    def __init__(
        self,
        *,
        name: str,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        context: Context | dict[str, Any] | None,
        config: dict[str, Any] | None = None,
    ):
        super().__init__(
            name=name,
            graph=graph,
            config=config,
            emit_raw_events=False,  # RAW copies multiplied one turn's bytes by ~13
            emit_interrupt_outcome=True,  # AG-UI 1.0 interrupts
            enable_legacy_on_interrupt_event=True,  # CopilotKit's useLangGraphInterrupt
        )
        self.run_context = context
        self._start_args: dict[str, str] = {}
        self._announced: dict[str, str] = {}
        """Tool calls already in the thread, with the id of the message that made each."""
        self._streamed_with: dict[str, Any] = {}
        """The graph's input and the config it runs from (`get_stream_kwargs`)."""
        self._run_state: RunState | None = None

    async def run(self, input: RunAgentInput) -> AsyncGenerator[Any, None]:
        """Check the input against the thread, then run the adapter on a cleaned copy."""
        cleaned = clean_input(input)
        try:
            await self._check_resume(cleaned)
        except ResumeRefused as refused:
            for event in refusal_events(input, refused):
                yield event
            return
        async for event in super().run(cleaned):
            announced = getattr(event, "tool_call_id", None) in self._announced
            if announced and event.type == EventType.TOOL_CALL_ARGS:
                continue  # the client holds these arguments already; it would append them
            if announced and event.type == EventType.TOOL_CALL_START:
                # Filed under the message that made the call, where the client has it.
                parent = self._announced[event.tool_call_id]
                event = event.model_copy(update={"parent_message_id": parent})
            yield event
            if event.type == EventType.TOOL_CALL_START:
                args = self._start_args.pop(event.tool_call_id, "")
                if args:
                    yield ToolCallArgsEvent(
                        type=EventType.TOOL_CALL_ARGS, tool_call_id=event.tool_call_id, delta=args
                    )

    def _dispatch_event(self, event: Any) -> Any:
        """Remember a tool call's first-chunk arguments; send node-end snapshots whole."""
        if event is not None and event.type == EventType.TOOL_CALL_START and event.raw_event:
            self._start_args[event.tool_call_id] = _first_chunk_args(event.raw_event)
        if event is not None and event.type == EventType.STATE_SNAPSHOT:
            event = self._whole_state(event)
        return super()._dispatch_event(event)

    def _whole_state(self, event: Any) -> Any:
        """Give a snapshot made as a node ended the thread's state, not the run's writes.

        The others are left as they are: those read from the checkpoint are whole already,
        and a node that emits its state itself means what it sends.
        """
        if self._run_state is None or not ends_node(event.raw_event):
            return event
        snapshot = self.get_state_snapshot(self._run_state.values)
        return event.model_copy(update={"snapshot": snapshot})

    async def prepare_stream(self, input: RunAgentInput, agent_state: Any, config: Any) -> Any:
        """Prepare the run as the adapter does; follow the thread's state through it."""
        prepared = await super().prepare_stream(input=input, agent_state=agent_state, config=config)
        if prepared.get("stream") is None:  # nothing runs: the run only re-reports interrupts
            return prepared
        start = self._streamed_with.get("config") or {}
        if (start.get("configurable") or {}).get("checkpoint_id"):  # a regenerate: a fork
            agent_state = await self.graph.aget_state(start)
        self._run_state = RunState(self.graph, agent_state.values or {}, HIDDEN_STATE_KEYS)
        self._run_state.apply(self._streamed_with.get("input"))
        return {**prepared, "stream": self._run_state.follow(prepared["stream"])}

    async def _check_resume(self, input: RunAgentInput) -> None:
        """Refuse resumes that do not answer exactly the open interrupts (`check_resume`)."""
        config = {"configurable": {"thread_id": input.thread_id}}
        snapshot = await self.graph.aget_state(config)
        self._announced = {
            call["id"]: message.id
            for message in (snapshot.values or {}).get("messages", [])
            for call in getattr(message, "tool_calls", None) or []
        }
        check_resume(snapshot, input)

    def _build_command_from_agui_resume(self, entries: list[Any], **_: Any) -> Command[Any]:
        """Deliver every answer keyed by its interrupt id."""
        return Command(
            resume={
                entry.interrupt_id: entry.payload
                if entry.status == "resolved"
                else REJECTED_PAYLOAD
                for entry in entries
            }
        )

    def _interrupts_to_agui(self, lg_interrupts: Any) -> Any:
        """Map interrupts as the adapter does, leaving out its `null` metadata fields."""
        mapped = super()._interrupts_to_agui(lg_interrupts)
        for item in mapped:
            if item.metadata:
                item.metadata = _without_nulls(item.metadata)
        return mapped

    def get_state_snapshot(self, state: Any) -> Any:
        """Return the declared output keys, without `messages`."""
        snapshot = super().get_state_snapshot(state)
        if isinstance(snapshot, dict):
            return {key: value for key, value in snapshot.items() if key not in HIDDEN_STATE_KEYS}
        return snapshot

    def get_schema_keys(self, config: Any) -> Any:
        """Compute a graph's schema keys once per graph.

        Four JSON-schema builds per run were most of the time before the first event
        (26 ms of 27 on the local models, `evals/bench_agui.py`).
        """
        graph = getattr(self.graph, "wrapped", self.graph)  # one run's RecordedGraph: its graph
        cached = _SCHEMA_KEYS.get(id(graph))
        if cached is None or cached[0] is not graph:
            cached = _SCHEMA_KEYS[id(graph)] = (graph, super().get_schema_keys(config))
        return cached[1]

    def get_stream_kwargs(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run with the server's `Context`, never a context built from client values."""
        stream_kwargs = super().get_stream_kwargs(*args, **kwargs)
        stream_kwargs["context"] = self.run_context
        self._streamed_with = stream_kwargs  # what `prepare_stream` follows the state from
        return stream_kwargs


def _without_nulls(value: Any) -> Any:
    """Drop `None` entries from nested dicts (1.0 clients treat optional null as absent)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    return value


def _first_chunk_args(raw_event: Any) -> str:
    """Return the arguments carried by the chunk that started a tool call."""
    chunk = (raw_event.get("data") or {}).get("chunk") if isinstance(raw_event, dict) else None
    for call in getattr(chunk, "tool_call_chunks", None) or []:
        if call.get("name") and call.get("args"):
            return str(call["args"])
    return ""


UI_ONLY_ROLES = frozenset({"activity"})
"""Message roles that live only in the client: AG-UI 1.0 `activity` messages (progress,
cards) are for the UI and never reach the model. The adapter (0.0.47) already drops
`developer` and folds `reasoning` into the next assistant message, but raises
"Unsupported message role" on `activity`, failing the whole run."""


def clean_input(input: RunAgentInput) -> RunAgentInput:
    """Drop what a client may not write and what the graph must not read.

    Forwarded props (but a legacy resume), state, and UI-only messages.
    """
    forwarded = input.forwarded_props if isinstance(input.forwarded_props, dict) else {}
    command = forwarded.get("command")
    legacy = (
        {"command": {"resume": command["resume"]}}
        if isinstance(command, dict) and "resume" in command
        else {}
    )
    state = input.state if isinstance(input.state, dict) else {}
    return input.model_copy(
        update={
            "messages": [
                message for message in input.messages if message.role not in UI_ONLY_ROLES
            ],
            "forwarded_props": legacy,
            "state": {key: value for key, value in state.items() if key in WRITABLE_STATE_KEYS},
        }
    )


def check_resume(snapshot: Any, input: RunAgentInput) -> None:
    """Refuse resumes that do not answer exactly the thread's open interrupts.

    Also refuses new input while interrupts are open (AG-UI 1.0 interrupts.mdx, rules 2-4).

    Raises:
        ResumeRefused: with a machine code for the `RUN_ERROR`.
    """
    open_ids = {item.id for task in snapshot.tasks for item in task.interrupts}
    legacy = (input.forwarded_props or {}).get("command", {}).get("resume")
    answered = [entry.interrupt_id for entry in input.resume or []]
    if not open_ids:
        if answered or legacy is not None:
            raise ResumeRefused("NO_PENDING_INTERRUPT", "this thread has no open interrupt")
        return
    if not answered and legacy is None:
        raise ResumeRefused(
            "INTERRUPT_PENDING",
            f"this thread waits for an answer to interrupt(s) {sorted(open_ids)}; "
            "send resume[] before new input",
        )
    repeated = sorted({i for i in answered if answered.count(i) > 1})
    if repeated:  # two answers to one question: neither may silently win
        raise ResumeRefused("DUPLICATE_RESUME", f"resume[] answers {repeated} twice")
    unknown = sorted(set(answered) - open_ids)
    if unknown:
        raise ResumeRefused("UNKNOWN_INTERRUPT", f"no open interrupt has id(s) {unknown}")
    if answered and set(answered) != open_ids:
        missing = sorted(open_ids - set(answered))
        raise ResumeRefused("PARTIAL_RESUME", f"resume[] must also answer {missing}")
    if not answered and len(open_ids) > 1:
        raise ResumeRefused(
            "PARTIAL_RESUME", "several interrupts are open; answer each in resume[]"
        )


def refusal_events(input: RunAgentInput, refused: ResumeRefused) -> list[Any]:
    """The whole stream of a refused run: `RUN_STARTED`, then `RUN_ERROR` with its code."""
    return [
        RunStartedEvent(type=EventType.RUN_STARTED, thread_id=input.thread_id, run_id=input.run_id),
        RunErrorEvent(type=EventType.RUN_ERROR, message=refused.message, code=refused.code),
    ]
