"""The A2A request handler: the SDK's `RequestHandler` interface answered with runs.

The SDK's `DefaultRequestHandler` runs an `AgentExecutor` and keeps tasks in its own
`TaskStore` and an in-process registry of active tasks. Here a task *is* a run: its id is
the `run_id`, its state the run's status in the run store, so `tasks/get` answers from
any process and after a restart, and the runs API shows the same run. So this module
implements the handler interface itself and leaves JSON-RPC, the v0.3 method names and
SSE framing to the SDK's dispatcher (`server/routes/a2a.py`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, NoReturn

from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    InvalidParamsError,
    InvalidRequestError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)

from server.auth.identity import Identity
from server.doors.a2a_tasks import (
    FINAL_STATES,
    MESSAGE_KEY,
    InputRefused,
    artifact_of,
    run_input,
    state_of,
    status_of,
    stored_message,
    task_of,
)
from server.doors.outcome import finished, is_paused
from server.doors.schemas import input_schema
from server.errors import refusal_text
from server.run_policy import RunRefused
from server.runs.assistants import Assistant
from server.runs.execute import Outcome
from server.runs.records import RunRecord
from server.runs.schema import CommandBody, RunCreate
from server.runs.service import Forbidden, NotFound, RunRejected, RunsService

DOOR = "a2a_door"
"""The `ServerCallContext.state` key of the caller's `Door` (set by the route)."""


@dataclass(frozen=True)
class Door:
    """Who is calling which assistant, over which run service."""

    runs: RunsService
    identity: Identity
    assistant: Assistant

    @property
    def schema(self) -> dict[str, Any]:
        """Return the assistant's graph's input JSON schema."""
        return input_schema(self.runs.graph_for(self.assistant))

    @property
    def chat(self) -> bool:
        """Return whether the workflow's input is `messages`."""
        return "messages" in (self.schema.get("properties") or {})

    def task(self, run: RunRecord, history_length: int | None = None) -> Task:
        """Return the run as a task."""
        return task_of(run, chat=self.chat, history_length=history_length)


def door_of(context: ServerCallContext) -> Door:
    """Return the caller's door, which the route put in the call context."""
    door: Door = context.state[DOOR]
    return door


class RunTasks(RequestHandler):
    """Answer the task methods with runs: send (streaming or not), get, subscribe, cancel."""

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Task:
        """Start a run for the message; answer the finished task (or at once, if asked)."""
        door = door_of(context)
        run, task = await start(door, params)
        if params.configuration.return_immediately:
            return door.task(run)
        history = _history_length(params)
        return door.task(await finished(door.runs, run, task), history)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        """Start a run; stream the task, `working`, the answer artifact, the final status."""
        door = door_of(context)
        run, task = await start(door, params)
        accepted = door.task(run)
        # The run may already be claimed by a worker; the stream still tells the story in
        # order: the task accepted, then `working` once the run emits, then its end.
        accepted.status.state = TaskState.TASK_STATE_SUBMITTED
        yield accepted
        async for event in _progress(door, run, task):
            yield event

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task:
        """Return the task (the run) as it is now."""
        door = door_of(context)
        run = await run_of(door, params.id)
        history = params.history_length if params.HasField("history_length") else None
        return door.task(run, history)

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task:
        """Cancel the run and answer the task once it has stopped."""
        door = door_of(context)
        run = await run_of(door, params.id)
        if state_of(run) in FINAL_STATES:
            raise TaskNotCancelableError(message=f"task {run.run_id} is already {run.status}")
        await door.runs.cancel(run, "interrupt")
        return door.task(await finished(door.runs, run, None))

    async def on_list_tasks(
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        """Not offered: list a context's runs with `GET /threads/{id}/runs`."""
        _unsupported("tasks/list; list a context's runs with GET /threads/{contextId}/runs")

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        """Stream a task that has not ended: the task as it is now, then as `send` streams.

        A task in a final state is refused (UnsupportedOperationError), as the spec says;
        `tasks/get` reads it. A task waiting for input streams its state and ends: its
        reply is a new message, and so a new task.
        """
        door = door_of(context)
        run = await run_of(door, params.id)
        if state_of(run) in FINAL_STATES:
            raise UnsupportedOperationError(
                message=f"task {run.run_id} has ended ({run.status}); read it with tasks/get"
            )
        yield door.task(run)
        async for event in _progress(door, run, None):
            yield event

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        """Not offered (the runs API's `webhook` notifies when a run ends)."""
        _unsupported("push notifications")

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        """Not offered."""
        _unsupported("push notifications")

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        """Not offered."""
        _unsupported("push notifications")

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        """Not offered."""
        _unsupported("push notifications")

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        """Not offered: the public card is the whole card."""
        _unsupported("the extended agent card")


async def _progress(
    door: Door, run: RunRecord, task: asyncio.Task[Outcome | None] | None
) -> AsyncGenerator[Event, None]:
    """Yield `working` once the run emits, then its answer artifact and its final status."""
    working = False
    async for event in door.runs.events.follow(
        run.run_id, after=0, is_active=door.runs.is_active(run.run_id)
    ):
        if not working and event.event != "end":
            working = True
            yield TaskStatusUpdateEvent(
                task_id=run.run_id,
                context_id=run.thread_id,
                status=TaskStatus(state=TaskState.TASK_STATE_WORKING),
            )
    final = await finished(door.runs, run, task)
    if state_of(final) == TaskState.TASK_STATE_COMPLETED:
        artifact = artifact_of(final.result, chat=door.chat)
        if artifact is not None:
            yield TaskArtifactUpdateEvent(
                task_id=run.run_id, context_id=run.thread_id, artifact=artifact, last_chunk=True
            )
    yield TaskStatusUpdateEvent(
        task_id=run.run_id, context_id=run.thread_id, status=status_of(final)
    )


async def start(door: Door, params: SendMessageRequest) -> tuple[RunRecord, Any]:
    """Create the run a message asks for, on its context's thread (claimed for the caller).

    A message naming a task that paused for input resumes it (`Command(resume=...)`);
    without a `contextId`, a new context (thread) is opened.
    """
    message = params.message
    command = None
    context_id = message.context_id
    if message.task_id:
        paused = await run_of(door, message.task_id)
        if not is_paused(paused):
            raise InvalidParamsError(
                message=f"task {paused.run_id} is {paused.status}; send the next message "
                "without taskId (with the same contextId) to continue the conversation"
            )
        context_id = context_id or paused.thread_id
        if context_id != paused.thread_id:
            raise InvalidParamsError(message="the task belongs to another contextId")
    context_id = context_id or str(uuid.uuid4())
    try:
        payload = run_input(door.schema, message)
        if message.task_id:
            command = CommandBody(resume=_resume_value(payload))
        else:  # before the context's thread is claimed: a refused message makes none
            _check_fit(door, payload)
        await door.runs.claim_thread(door.identity, context_id, door.assistant)
        body = RunCreate(
            assistant_id=door.assistant.assistant_id,
            input=None if command else payload,
            command=command,
            metadata={MESSAGE_KEY: stored_message(message, context_id=context_id)},
        )
        return await door.runs.create_run(door.identity, context_id, body)
    except InputRefused as refused:
        raise InvalidParamsError(message=str(refused)) from None
    except (RunRejected, Forbidden) as refused:
        raise InvalidRequestError(message=refusal_text(refused)) from None
    except NotFound:
        raise InvalidParamsError(message=f"no context {context_id!r} for this caller") from None


def _check_fit(door: Door, payload: Any) -> None:
    """Refuse input its workflow does not take as invalid params (the run policy's rule).

    Only the input's shape: scopes and server paths are checked once, by `create_run`
    (a path check reads the disk).
    """
    try:
        door.runs.policy.check_fit(door.assistant.graph_id, payload)
    except RunRefused as refused:
        raise InputRefused(str(refused)) from None


def _resume_value(payload: Any) -> Any:
    """Return what resumes an interrupt: the reply's text, or its data."""
    if isinstance(payload, dict) and isinstance(payload.get("messages"), list):
        said = payload["messages"]
        return said[-1]["content"] if said else None
    return payload


async def run_of(door: Door, task_id: str) -> RunRecord:
    """Return the caller's run `task_id` of this assistant, or raise TaskNotFoundError."""
    try:
        run = await door.runs.run_of(door.identity, None, task_id)
    except NotFound:
        raise TaskNotFoundError(message=f"no task {task_id!r}") from None
    if run.assistant_id != door.assistant.assistant_id:
        raise TaskNotFoundError(message=f"no task {task_id!r} of this agent")
    return run


def _history_length(params: SendMessageRequest) -> int | None:
    configuration = params.configuration
    return configuration.history_length if configuration.HasField("history_length") else None


def _unsupported(what: str) -> NoReturn:
    raise UnsupportedOperationError(message=f"not supported: {what}")
