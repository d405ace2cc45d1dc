"""The thread as the model is shown it: every tool call answered, every answer to a call.

OpenAI-compatible servers refuse a history in which an assistant message's tool calls are
not followed by a tool message for each (`400: An assistant message with 'tool_calls' must
be followed by tool messages`), or a tool message answers no call. A thread gets one when
its next input comes before the answer: a new message sent over LangServe or the runs API
while an approval is open (LangGraph, like langgraph-api, takes it and leaves the pending
call behind), or a frontend tool's call that the client never answered. Every later turn
then failed, on every surface. The model is shown such a call as answered "not run"; the
thread's own messages stay as they are.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage

NOT_RUN = "Not run: the conversation went on before this call was answered."


def with_every_call_answered(messages: list[AnyMessage]) -> list[AnyMessage]:
    """Return `messages` with a `NOT_RUN` answer after each unanswered tool call."""
    shown: list[AnyMessage] = []
    open_calls: dict[str, str] = {}
    """The calls of the last assistant message not answered yet: id → tool name."""
    for message in messages:
        if isinstance(message, ToolMessage):
            if open_calls.pop(message.tool_call_id, None) is not None:
                shown.append(message)
            continue  # an answer to no open call: not shown
        shown.extend(_not_run(open_calls))
        open_calls = {}
        shown.append(message)
        if isinstance(message, AIMessage):
            open_calls = {call["id"]: call["name"] for call in message.tool_calls if call["id"]}
    return [*shown, *_not_run(open_calls)]


def _not_run(open_calls: dict[str, str]) -> list[ToolMessage]:
    return [
        ToolMessage(NOT_RUN, tool_call_id=call_id, name=name, status="error")
        for call_id, name in open_calls.items()
    ]
