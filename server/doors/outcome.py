"""What a finished run says, read the same way by every door."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from server.runs.execute import Outcome
from server.runs.records import RunRecord
from server.runs.serde import dumps
from server.runs.service import RunsService

INTERRUPT = "__interrupt__"
ERROR = "__error__"


async def finished(
    runs: RunsService, run: RunRecord, task: asyncio.Task[Outcome | None] | None
) -> RunRecord:
    """Wait until the run is final; return its record with a plain JSON `result`.

    A run executed in this process hands back LangChain objects (messages); the doors
    read the JSON the run store keeps, whichever process ran it.
    """
    final = await runs.wait(run, task)
    final.result = plain(final.result)
    return final


def plain(value: Any) -> Any:
    """Return `value` as plain JSON data (messages as their dicts)."""
    return orjson.loads(dumps(value))


def failure(run: RunRecord) -> str | None:
    """Return why the run did not complete, or None when it succeeded."""
    result = run.result if isinstance(run.result, dict) else {}
    if is_paused(run):
        return "the run paused for input (an interrupt); resume it on its thread"
    if run.status == "success":
        return None
    if ERROR in result:
        error = result[ERROR] or {}
        return f"{error.get('error', 'Error')}: {error.get('message', '')}".rstrip(": ")
    if run.status == "timeout":
        return "the run took longer than its time limit and was stopped"
    if run.status == "interrupted":
        return f"the run was cancelled ({run.cancel_reason or 'interrupt'})"
    return f"the run ended with status {run.status!r}"


def is_paused(run: RunRecord) -> bool:
    """Return whether the run stopped at an interrupt, waiting for input (not cancelled).

    Such a run is `success`, as langgraph-api records it, and its result holds the
    interrupts (`__interrupt__`). A static breakpoint (`interrupt_before`) asks for no
    input: its run answers its values and reads as completed here.
    """
    return run.status == "success" and isinstance(run.result, dict) and INTERRUPT in run.result


def answer_text(values: Any) -> str | None:
    """Return the text a person reads as the answer: the last AI message, or `answer`."""
    if not isinstance(values, dict):
        return None
    for message in reversed(values.get("messages") or []):
        if isinstance(message, dict) and message.get("type") in ("ai", "AIMessageChunk"):
            return content_text(message.get("content"))
    answer = values.get("answer")
    return answer if isinstance(answer, str) else None


def content_text(content: Any) -> str:
    """Return a message content (a string, or a list of blocks) as plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block if isinstance(block, str) else str(block.get("text", ""))
            for block in content
            if isinstance(block, str | dict)
        )
    return ""
