"""The `agent` workflow: a tool-calling chat agent with human approval for side effects.

START → route_model → agent ─┬→ tools ──→ agent
├→ approve → agent   (interrupt: a person approves)
└→ END               (an answer, or a frontend tool call)
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.agent.nodes import (
    make_agent,
    make_approve,
    make_route_model,
    make_tools,
    route_after_agent,
)
from graphs.agent.state import AgentInput, AgentOutput, AgentState
from graphs.context import Context
from graphs.deps import GraphDeps


def build_graph(
    *, deps: GraphDeps, checkpointer: BaseCheckpointSaver[str] | None = None
) -> CompiledStateGraph[AgentState, Context, AgentInput, AgentOutput]:
    """Compile the agent graph over the given models and knowledge base."""
    builder = StateGraph(
        AgentState, context_schema=Context, input_schema=AgentInput, output_schema=AgentOutput
    )
    builder.add_node("route_model", make_route_model())
    builder.add_node("agent", make_agent(deps))
    builder.add_node("tools", make_tools(deps))
    builder.add_node("approve", make_approve(deps))
    builder.add_edge(START, "route_model")
    builder.add_edge("route_model", "agent")
    builder.add_conditional_edges("agent", route_after_agent)
    builder.add_edge("tools", "agent")
    builder.add_edge("approve", "agent")
    return builder.compile(checkpointer=checkpointer, name="agent")
