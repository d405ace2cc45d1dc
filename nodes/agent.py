"""The verbs of the tool-calling agent: route a turn, call the model, run tools, ask approval."""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graphs.agent.prompts import GROUNDED_PROMPT, SYSTEM_PROMPT
from graphs.context import Context
from graphs.deps import GraphDeps
from nodes.agent_tools import NEEDS_APPROVAL, SAVE_NOTE, backend_tools, rejected_tool, search
from nodes.fallback import SECONDARY, with_fallback
from nodes.generate import format_passages

log = logging.getLogger("orca")
LONG_TURN_CHARS = 2000
"""A turn whose user message is longer than this goes to LLM-02."""
LONG_THREAD_MESSAGES = 24
"""A thread longer than this goes to LLM-02."""


def choose_model(messages: list[AnyMessage], requested: str) -> str:
    """Pick the chat model for a turn.

    The rule: long inputs (a user message over `LONG_TURN_CHARS` characters, or a thread
    over `LONG_THREAD_MESSAGES` messages) go to LLM-02, the production server with the
    larger context; everything else goes to the run's `chat_model` (LLM-01 by default).
    """
    last_human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    if last_human is not None and len(str(last_human.content)) > LONG_TURN_CHARS:
        return SECONDARY
    if len(messages) > LONG_THREAD_MESSAGES:
        return SECONDARY
    return requested


def make_route_model() -> Any:
    """Return the `route_model` node."""

    async def route_model(state: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
        """Record which model this turn goes to."""
        messages = list(state.get("messages") or [])
        return {"route": choose_model(messages, runtime.context.chat_model)}

    return route_model


def make_agent(deps: GraphDeps) -> Any:
    """Return the `agent` node: one model call, falling back to the other LLM on failure."""

    async def agent(state: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
        """Call the routed model with the backend and frontend tools bound."""
        primary = state.get("route") or runtime.context.chat_model
        update, _ = await with_fallback(
            primary, lambda alias: _answer(deps, runtime.context, state, alias)
        )
        return update

    return agent


async def _answer(
    deps: GraphDeps, context: Context, state: dict[str, Any], alias: str
) -> dict[str, Any]:
    model: BaseChatModel = deps.models.chat_model(alias)
    messages = list(state.get("messages") or [])
    tools = [*backend_tools(deps, context).values(), *_frontend_tools(state)]
    try:
        bound = model.bind_tools(tools)
    except NotImplementedError:
        return await _grounded_answer(deps, context, model, messages, alias)
    reply = await bound.ainvoke([SystemMessage(SYSTEM_PROMPT), *messages])
    return {"messages": [reply], "model": alias}


async def _grounded_answer(
    deps: GraphDeps,
    context: Context,
    model: BaseChatModel,
    messages: list[AnyMessage],
    alias: str,
) -> dict[str, Any]:
    """Answer without tools (e.g. the small local model): retrieve first, then answer."""
    question = next((str(m.content) for m in reversed(messages) if isinstance(m, HumanMessage)), "")
    sources = await search(deps, context, question) if question else []
    prompt = GROUNDED_PROMPT.format(passages=format_passages(sources) or "(none found)")
    reply = await model.ainvoke([SystemMessage(prompt), *messages[-4:]])
    return {"messages": [reply], "model": alias, "sources": sources}


def _frontend_tools(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the client's tools in OpenAI function form, for `bind_tools`."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description", ""),
                "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
            },
        }
        for tool in state.get("tools") or []
        if isinstance(tool, dict) and tool.get("name")
    ]


def route_after_agent(state: dict[str, Any]) -> Literal["tools", "approve", "__end__"]:
    """Send backend tool calls to `tools` or `approve`; end for answers and frontend tools."""
    last = (state.get("messages") or [None])[-1]
    calls = last.tool_calls if isinstance(last, AIMessage) else []
    if not calls:
        return "__end__"
    frontend = {tool.get("name") for tool in state.get("tools") or [] if isinstance(tool, dict)}
    if any(call["name"] in frontend for call in calls):
        return "__end__"  # the client runs it and sends the result in the next run
    if any(call["name"] in NEEDS_APPROVAL for call in calls):
        return "approve"
    return "tools"


def make_tools(deps: GraphDeps) -> Any:
    """Return the `tools` node: run the backend tool calls of the last model message."""

    async def tools(state: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
        """Run each call; tool messages take the call's id, as the stream announced it."""
        available = backend_tools(deps, runtime.context)
        results: list[ToolMessage] = []
        sources: list[dict[str, Any]] = []
        for call in state["messages"][-1].tool_calls:
            tool = available.get(call["name"])
            if tool is None:
                results.append(_unknown(call))
                continue
            message = await tool.ainvoke({**call, "type": "tool_call"})
            message.id = call["id"]
            sources.extend(message.artifact or [])
            results.append(message)
        update: dict[str, Any] = {"messages": results}
        if sources:
            update["sources"] = sources
        return update

    return tools


def make_approve(deps: GraphDeps) -> Any:
    """Return the `approve` node: ask a person before each side-effecting call."""

    async def approve(state: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
        """Interrupt once per call that needs approval; run it only if approved."""
        available = backend_tools(deps, runtime.context)
        results: list[ToolMessage] = []
        for call in state["messages"][-1].tool_calls:
            tool = available.get(call["name"])
            if tool is None:
                results.append(_unknown(call))
                continue
            if call["name"] in NEEDS_APPROVAL:
                decision = interrupt(approval_request(call))
                if not _approved(decision):
                    tool = rejected_tool(call["name"])
            message = await tool.ainvoke({**call, "type": "tool_call"})
            message.id = call["id"]
            results.append(message)
        return {"messages": results}

    return approve


def approval_request(call: dict[str, Any]) -> dict[str, Any]:
    """Describe a tool call for a person to approve (AG-UI interrupt fields)."""
    return {
        "reason": "confirmation",
        "message": _question(call),
        "toolCallId": call["id"],
        "tool": call["name"],
        "args": call["args"],
        "responseSchema": {
            "type": "object",
            "properties": {"approved": {"type": "boolean"}},
            "required": ["approved"],
        },
    }


def _question(call: dict[str, Any]) -> str:
    """Ask in words a person reads at a glance."""
    if call["name"] == SAVE_NOTE:
        return f"Save this note to the knowledge base? “{call['args'].get('text', '')}”"
    return f"Allow {call['name']} with {json.dumps(call['args'], ensure_ascii=False)}?"


def _approved(decision: Any) -> bool:
    """Read a resume payload: `{"approved": true}`, `true`, or the string "approve"."""
    if isinstance(decision, dict):
        return decision.get("approved") is True
    if isinstance(decision, str):
        return decision.strip().lower() in {"approve", "approved", "yes", "true"}
    return decision is True


def _unknown(call: dict[str, Any]) -> ToolMessage:
    return ToolMessage(
        f"There is no tool named {call['name']!r}.",
        tool_call_id=call["id"],
        id=call["id"],
        name=call["name"],
        status="error",
    )
