"""A2A messages and tasks as runs: what a message becomes as input, and a run as a task.

- A message's `contextId` is the thread; a task is one run (`taskId` = `run_id`).
- Input: a workflow with `messages` (a chat) gets the text parts as one human message, and
  any data part's keys beside it. Another workflow takes a data part as its input object;
  text alone fills its one required text field (`rag`: `{"question": text}`), and a
  workflow without exactly one such field needs a data part.
- Output: the answer as a text part (a chat's last AI message, or an `answer` field), and
  for workflows that are not chats the final values as a data part, in one artifact.
"""

from __future__ import annotations

from typing import Any

from a2a.helpers import get_data_parts, get_text_parts, new_data_part, new_text_part
from a2a.types.a2a_pb2 import (
    Artifact,
    Message,
    Part,
    Role,
    Task,
    TaskState,
    TaskStatus,
)
from google.protobuf.json_format import (  # type: ignore[import-untyped]
    MessageToDict,
    ParseDict,
)

from server.doors.outcome import answer_text, failure, is_paused
from server.runs.records import RunRecord

MESSAGE_KEY = "a2a_message"
"""The run metadata key holding the A2A message that started the run (the task history)."""
ARTIFACT_ID = "result"

STATES: dict[str, int] = {
    "pending": TaskState.TASK_STATE_SUBMITTED,
    "running": TaskState.TASK_STATE_WORKING,
    "success": TaskState.TASK_STATE_COMPLETED,
    "error": TaskState.TASK_STATE_FAILED,
    "timeout": TaskState.TASK_STATE_FAILED,
}
FINAL_STATES = {
    TaskState.TASK_STATE_COMPLETED,
    TaskState.TASK_STATE_FAILED,
    TaskState.TASK_STATE_CANCELED,
    TaskState.TASK_STATE_REJECTED,
}


class InputRefused(ValueError):
    """The message cannot be the workflow's input; the message says what to send."""


def run_input(schema: dict[str, Any], message: Message) -> Any:
    """Return the workflow input a message stands for (InputRefused when it cannot)."""
    text = "\n".join(get_text_parts(message.parts))
    data: dict[str, Any] = {}
    for value in get_data_parts(message.parts):
        if not isinstance(value, dict):
            raise InputRefused("a data part must hold a JSON object (the input's fields)")
        data.update(_whole(value))
    fields: dict[str, Any] = schema.get("properties") or {}
    if "messages" in fields:
        return _chat_input(text, data)
    if data:
        return data
    named = [
        name
        for name in schema.get("required") or []
        if (fields.get(name) or {}).get("type") == "string"
    ]
    if text and len(named) == 1 and len(schema.get("required") or []) == 1:
        return {named[0]: text}
    raise InputRefused(
        "this workflow takes a data part holding its input object, with fields "
        f"{sorted(fields)}; text alone fills only a workflow's one required text field"
    )


def _chat_input(text: str, data: dict[str, Any]) -> dict[str, Any]:
    """Return a chat's input: the data part's messages, then the text as the user's message.

    `messages` must be a list: `list()` of a string made a message of each character, where
    the runs API, LangServe and MCP all refuse or keep it whole.
    """
    earlier = data.get("messages", [])
    if not isinstance(earlier, list):
        raise InputRefused(
            "the data part's `messages` must be a list of messages "
            f'(`[{{"role": "user", "content": "..."}}]`), not a {_json_type(earlier)}'
        )
    if not text and "messages" not in data:
        raise InputRefused("send a text part: it becomes the user's message")
    said = [{"role": "user", "content": text}] if text else []
    return {**data, "messages": earlier + said}


def _json_type(value: Any) -> str:
    """Return the JSON name of a parsed value's type."""
    names = {dict: "object", str: "string", bool: "boolean", float: "number", int: "number"}
    return names.get(type(value), "null")


def _whole(value: Any) -> Any:
    """Give back the integers a data part carried as doubles (protobuf `Value`)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def state_of(run: RunRecord) -> int:
    """Return the task state of the run."""
    if is_paused(run):
        return TaskState.TASK_STATE_INPUT_REQUIRED
    if run.status == "interrupted":
        return TaskState.TASK_STATE_CANCELED
    return STATES.get(run.status, TaskState.TASK_STATE_UNSPECIFIED)


def artifact_of(values: Any, *, chat: bool) -> Artifact | None:
    """Return the run's answer as an artifact (None when it has none)."""
    parts: list[Part] = []
    text = answer_text(values)
    if text is not None:
        parts.append(new_text_part(text))
    if not chat and isinstance(values, dict):
        parts.append(new_data_part(values))
    if not parts:
        return None
    return Artifact(artifact_id=ARTIFACT_ID, name="answer", parts=parts)


def status_of(run: RunRecord) -> TaskStatus:
    """Return the task status, with the answer or what went wrong as its message."""
    state = state_of(run)
    status = TaskStatus(state=state)  # type: ignore[arg-type]
    if state == TaskState.TASK_STATE_COMPLETED:
        text = answer_text(run.result)
    elif state in FINAL_STATES or state == TaskState.TASK_STATE_INPUT_REQUIRED:
        text = failure(run)
    else:
        text = None
    if text is not None:
        status.message.CopyFrom(agent_message(run, text))
    status.timestamp.FromDatetime(run.updated_at)
    return status


def agent_message(run: RunRecord, text: str) -> Message:
    """Return the agent's message on the run's task."""
    return Message(
        message_id=f"{run.run_id}:answer",
        context_id=run.thread_id,
        task_id=run.run_id,
        role=Role.ROLE_AGENT,
        parts=[new_text_part(text)],
    )


def task_of(run: RunRecord, *, chat: bool, history_length: int | None = None) -> Task:
    """Return the run as an A2A task: status, the answer artifact and the history."""
    task = Task(id=run.run_id, context_id=run.thread_id, status=status_of(run))
    state = task.status.state
    if state == TaskState.TASK_STATE_COMPLETED:
        artifact = artifact_of(run.result, chat=chat)
        if artifact is not None:
            task.artifacts.append(artifact)
    history = []
    sent = run.metadata.get(MESSAGE_KEY)
    if isinstance(sent, dict):
        user = ParseDict(sent, Message(), ignore_unknown_fields=True)
        user.task_id = run.run_id
        history.append(user)
    if task.status.HasField("message"):
        history.append(task.status.message)
    if history_length is not None:
        history = history[-history_length:] if history_length else []
    task.history.extend(history)
    return task


def stored_message(message: Message, *, context_id: str) -> dict[str, Any]:
    """Return the user's message as the run's metadata keeps it (for the task history)."""
    stored = Message()
    stored.CopyFrom(message)
    stored.context_id = context_id
    stored_dict: dict[str, Any] = MessageToDict(stored)
    return stored_dict
