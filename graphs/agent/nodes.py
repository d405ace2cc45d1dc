"""The verbs of the tool-calling agent: route a turn, call the model, run tools, ask approval."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import ToolCall
from langchain_core.tools import BaseTool
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graphs.agent.history import with_every_call_answered
from graphs.agent.prompts import GROUNDED_PROMPT, SYSTEM_PROMPT
from graphs.agent.state import AgentState
from graphs.agent.tools import NEEDS_APPROVAL, SAVE_NOTE, backend_tools, rejected_tool, search
from graphs.context import Context
from graphs.deps import GraphDeps
from nodes.fallback import SECONDARY, with_fallback
from nodes.generate import format_passages
from nodes.node import Node
from nodes.state import Source

log = logging.getLogger("orca")

AgentNode = Node[AgentState, Awaitable[AgentState]]
"""A node of the agent graph: it returns the keys of the state it changes."""
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


def make_route_model() -> AgentNode:
    """Return the `route_model` node (a node, not a router: it records, the edge is fixed)."""

    async def route_model(state: AgentState, runtime: Runtime[Context]) -> AgentState:
        """Record which model this turn goes to."""
        messages = list(state.get("messages") or [])
        return {"route": choose_model(messages, runtime.context.chat_model)}

    return route_model


def make_agent(deps: GraphDeps) -> AgentNode:
    """Return the `agent` node: one model call, falling back to the other LLM on failure."""

    async def agent(state: AgentState, runtime: Runtime[Context]) -> AgentState:
        """Call the routed model with the backend and frontend tools bound."""
        primary = state.get("route") or runtime.context.chat_model
        update, _ = await with_fallback(
            primary, lambda alias: _answer(deps, runtime.context, state, alias)
        )
        return update

    return agent


async def _answer(deps: GraphDeps, context: Context, state: AgentState, alias: str) -> AgentState:
    model: BaseChatModel = deps.models.chat_model(alias)
    messages = list(state.get("messages") or [])
    tools: list[BaseTool | dict[str, Any]] = [
        *backend_tools(deps, context).values(),
        *_frontend_tools(state),
    ]
    try:
        bound = model.bind_tools(tools)
    except NotImplementedError:
        return await _grounded_answer(deps, context, model, messages, alias)
    reply = await bound.ainvoke([SystemMessage(SYSTEM_PROMPT), *with_every_call_answered(messages)])
    return {"messages": [reply], "model": alias}


async def _grounded_answer(
    deps: GraphDeps,
    context: Context,
    model: BaseChatModel,
    messages: list[AnyMessage],
    alias: str,
) -> AgentState:
    """Answer without tools (e.g. the small local model): retrieve first, then answer."""
    question = next((str(m.content) for m in reversed(messages) if isinstance(m, HumanMessage)), "")
    sources = await search(deps, context, question) if question else []
    prompt = GROUNDED_PROMPT.format(passages=format_passages(sources) or "(none found)")
    reply = await model.ainvoke([SystemMessage(prompt), *messages[-4:]])
    return {"messages": [reply], "model": alias, "sources": sources}


def _frontend_tools(state: AgentState) -> list[dict[str, Any]]:
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


def route_after_agent(state: AgentState) -> Literal["tools", "approve", "__end__"]:
    """Send backend tool calls to `tools` or `approve`; end for answers and frontend tools.

    Raises:
        ValueError: when the last message is not the model's (the `agent` node always
            appends one, so anything else is a bug or a state edited by hand).
    """
    calls = _last_tool_calls(state)
    if not calls:
        return "__end__"
    frontend = {tool.get("name") for tool in state.get("tools") or [] if isinstance(tool, dict)}
    if any(call["name"] in frontend for call in calls):
        return "__end__"  # the client runs it and sends the result in the next run
    if any(call["name"] in NEEDS_APPROVAL for call in calls):
        return "approve"
    return "tools"


def _last_tool_calls(state: AgentState) -> list[ToolCall]:
    """Return the tool calls of the model's last message.

    Raises:
        ValueError: when the thread does not end with a model message.
    """
    messages = state.get("messages") or []
    if not messages or not isinstance(messages[-1], AIMessage):
        last = type(messages[-1]).__name__ if messages else "nothing"
        raise ValueError(f"the agent's thread should end with the model's message, not {last}")
    return messages[-1].tool_calls


def make_tools(deps: GraphDeps) -> AgentNode:
    """Return the `tools` node: run the backend tool calls of the last model message."""

    async def tools(state: AgentState, runtime: Runtime[Context]) -> AgentState:
        """Run each call; tool messages take the call's id, as the stream announced it."""
        available = backend_tools(deps, runtime.context)
        results: list[AnyMessage] = []
        sources: list[Source] = []
        for call in _last_tool_calls(state):
            tool = available.get(call["name"])
            if tool is None:
                results.append(_unknown(call))
                continue
            message = await tool.ainvoke({**call, "type": "tool_call"})
            message.id = call["id"]
            sources.extend(message.artifact or [])
            results.append(message)
        update: AgentState = {"messages": results}
        if sources:
            update["sources"] = sources
        return update

    return tools


def make_approve(deps: GraphDeps) -> AgentNode:
    """Return the `approve` node: ask a person before each side-effecting call."""

    async def approve(state: AgentState, runtime: Runtime[Context]) -> AgentState:
        """Interrupt once per call that needs approval; run it only if approved."""
        available = backend_tools(deps, runtime.context)
        results: list[AnyMessage] = []
        for call in _last_tool_calls(state):
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


def approval_request(call: ToolCall) -> dict[str, Any]:
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


def _question(call: ToolCall) -> str:
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


def _unknown(call: ToolCall) -> ToolMessage:
    return ToolMessage(
        f"There is no tool named {call['name']!r}.",
        tool_call_id=call["id"],
        id=call["id"],
        name=call["name"],
        status="error",
    )
