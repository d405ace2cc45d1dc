"""Which `as_node` a state update may name (`server/runs/as_node.py`)."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from server.runs.as_node import check_as_node
from server.runs.lookup import RunRejected
from tests.doubles.echo_graph import build_graph

GRAPH = build_graph(InMemorySaver())


@pytest.mark.parametrize("as_node", [None, "reply", "__start__", "__input__", "__copy__"])
def test_nodes_and_langgraphs_own_names_pass(as_node: str | None) -> None:
    check_as_node(GRAPH, as_node, {"messages": []}, "as_node")


def test_end_passes_with_null_values_only() -> None:
    check_as_node(GRAPH, "__end__", None, "as_node")
    with pytest.raises(RunRejected, match="takes null values"):
        check_as_node(GRAPH, "__end__", {"messages": []}, "as_node")


@pytest.mark.parametrize("as_node", ["nope", "__nope__", "__interrupt__", ""])
def test_other_names_are_refused_naming_the_field(as_node: str) -> None:
    with pytest.raises(RunRejected, match=r"supersteps\[2\]: no node"):
        check_as_node(GRAPH, as_node, None, "supersteps[2]")
