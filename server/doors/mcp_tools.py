"""MCP tools: each assistant the caller may run is a tool; calling it is a stateless run.

As langgraph-api's `/mcp`: the tool's name is the assistant's name (a system assistant's
is its graph's), its description the workflow's, its input schema the graph's input JSON
schema, and its result the run's final values (JSON text, and as structured content).
A run that fails is a tool error (`isError`) carrying what went wrong, as is input the
schema or the run policy refuses (`paths` without the admin scope, ...): the model that
called the tool reads the message and can correct itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from mcp import types

from server.auth.identity import Identity
from server.doors.outcome import failure, finished
from server.doors.schemas import input_schema, input_validator
from server.errors import refusal_text
from server.runs.assistants import Assistant, AssistantFilter
from server.runs.schema import RunCreate
from server.runs.service import Forbidden, Graph, NotFound, RunRejected, RunsService

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
"""The names MCP clients accept for a tool (SEP-986); a saved assistant named otherwise is
not listed (it stays reachable over the runs API and A2A by its id)."""
MAX_SAVED_TOOLS = 100
"""The caller's saved assistants listed as tools, oldest first, beyond the system ones."""


class ToolFailed(Exception):
    """The tool call did not produce an answer; the message says why (an `isError` result)."""


async def assistants_of(runs: RunsService, identity: Identity) -> list[Assistant]:
    """Return the assistants `identity` may run that can be tools, each name once."""
    found = [a for a in runs.assistants.all if a.graph_id in runs.graphs]
    if runs.saved is not None:
        found += await runs.saved.search(
            identity.id,
            AssistantFilter(),
            limit=MAX_SAVED_TOOLS,
            offset=0,
            sort_by="created_at",
            descending=False,
        )
    named: dict[str, Assistant] = {}
    for assistant in found:
        if TOOL_NAME.match(assistant.name) and assistant.graph_id in runs.graphs:
            named.setdefault(assistant.name, assistant)  # a system name is never shadowed
    return list(named.values())


async def list_tools(runs: RunsService, identity: Identity) -> list[types.Tool]:
    """Return one tool per assistant the caller may run."""
    return [
        types.Tool(
            name=assistant.name,
            description=assistant.description or f"Run the {assistant.graph_id} workflow.",
            inputSchema=input_schema(runs.graphs[assistant.graph_id]),
        )
        for assistant in await assistants_of(runs, identity)
    ]


async def tool_assistant(runs: RunsService, identity: Identity, name: str) -> Assistant:
    """Return the assistant the tool `name` runs (ToolFailed when there is none)."""
    for assistant in await assistants_of(runs, identity):
        if assistant.name == name:
            return assistant
    raise ToolFailed(f"no tool {name!r}; list the tools to see the ones you may call")


async def call_tool(
    runs: RunsService, identity: Identity, name: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """Run the tool's assistant on `arguments` as a stateless run; return its final values.

    Raises:
        ToolFailed: unknown tool, arguments the schema refuses, a run refused by the run
            policy, or a run that failed, was cancelled or paused for input.
    """
    assistant = await tool_assistant(runs, identity, name)
    check_arguments(runs.graphs[assistant.graph_id], arguments)
    body = RunCreate(assistant_id=assistant.assistant_id, input=arguments)
    try:
        run, task = await runs.create_run(identity, None, body)
    except (Forbidden, NotFound, RunRejected) as refused:
        # Forbidden (a scope), RunRejected (a setting or a path), NotFound: the caller's
        # to fix, so the model sees it, as on the runs API's 403/404/422.
        raise ToolFailed(refusal_text(refused)) from None
    final = await finished(runs, run, task)
    why = failure(final)
    if why is not None:
        raise ToolFailed(why)
    values = final.result
    return values if isinstance(values, dict) else {"output": values}


def check_arguments(graph: Graph, arguments: dict[str, Any]) -> None:
    """Refuse arguments the graph's input schema does not admit (ToolFailed saying why)."""
    error = jsonschema.exceptions.best_match(input_validator(graph).iter_errors(arguments))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "arguments"
        raise ToolFailed(f"Input validation error at {where}: {error.message}")


def result_content(values: dict[str, Any]) -> tuple[list[types.ContentBlock], dict[str, Any]]:
    """Return the tool result: the values as JSON text, and as structured content."""
    text = json.dumps(values, ensure_ascii=False)
    return [types.TextContent(type="text", text=text)], values
