"""State of the `agent` workflow."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from nodes.state import Source


class AgentInput(TypedDict, total=False):
    """What a caller may write: the conversation and the tools its frontend offers."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation; new messages are appended (by id) to the thread's."""
    tools: list[dict[str, Any]]
    """Frontend tools (`name`, `description`, `parameters`): the model may call them, and
    a call ends the run so the client can answer it in the next run."""


class AgentOutput(TypedDict, total=False):
    """What a caller sees of the state (besides the messages)."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation."""
    model: str
    """The chat model alias that answered the last turn (`llm-01` or `llm-02`)."""
    sources: list[Source]
    """Passages the last knowledge-base search returned, best first."""


class AgentState(AgentInput, AgentOutput, total=False):
    """The whole checkpointed state of an agent thread."""

    route: str
    """The alias `route_model` chose for this turn, before any fallback."""
