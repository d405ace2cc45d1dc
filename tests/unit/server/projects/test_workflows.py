"""The app's registry: built-ins and the operator's graphs in one namespace, one line per error."""

import json
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphs import REGISTRY
from server.projects.config import ProjectError, read_project
from server.projects.workflows import workflow_registry

CHAT_GRAPH = """
from typing import Annotated
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import StateGraph, add_messages
from typing_extensions import TypedDict

class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]

def answer(state: State) -> dict:
    return {"messages": [AIMessage("hi")]}

builder = StateGraph(State)
builder.add_node(answer)
builder.add_edge("__start__", "answer")
graph = builder.compile()
uncompiled = builder

def make_graph():
    return builder.compile()

def per_run(config):
    return builder.compile()

not_a_graph = 42
"""


def project_with(tmp_path: Path, graphs: dict[str, str]) -> Path:
    (tmp_path / "chat.py").write_text(CHAT_GRAPH)
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"graphs": graphs}))
    return path


def test_project_graphs_join_the_builtins(tmp_path: Path) -> None:
    project = read_project(project_with(tmp_path, {"mine": "./chat.py:graph"}))
    registry = workflow_registry(builtins=True, extra_graphs={}, project=project)
    assert list(registry) == [*REGISTRY, "mine"]
    mine = registry["mine"]
    assert (mine.chat, mine.langserve, mine.origin) == (True, True, "langgraph.json")
    assert mine.description == "./chat.py:graph (langgraph.json)"


@pytest.mark.parametrize("attribute", ["graph", "uncompiled", "make_graph"])
def test_each_graph_form_builds_over_the_checkpointer(tmp_path: Path, attribute: str) -> None:
    project = read_project(project_with(tmp_path, {"mine": f"./chat.py:{attribute}"}))
    spec = workflow_registry(builtins=False, extra_graphs={}, project=project)["mine"]
    saver = InMemorySaver()
    graph = spec.build(deps=None, checkpointer=saver)
    assert graph.checkpointer is saver
    out = graph.invoke({"messages": [("user", "hey")]}, {"configurable": {"thread_id": "t"}})
    assert out["messages"][-1].content == "hi"


def test_a_graph_named_like_a_builtin_is_refused(tmp_path: Path) -> None:
    project = read_project(project_with(tmp_path, {"agent": "./chat.py:graph"}))
    with pytest.raises(ProjectError) as refused:
        workflow_registry(builtins=True, extra_graphs={}, project=project)
    assert str(refused.value) == (
        "graph 'agent' of langgraph.json has the name of a built-in workflow; rename it there, "
        "or set ORCA_BUILTIN_WORKFLOWS=false to serve only your graphs"
    )


def test_builtins_switched_off_leave_the_name_free(tmp_path: Path) -> None:
    project = read_project(project_with(tmp_path, {"agent": "./chat.py:graph"}))
    registry = workflow_registry(builtins=False, extra_graphs={}, project=project)
    assert list(registry) == ["agent"]
    assert registry["agent"].origin == "langgraph.json"


def test_orca_graphs_clashing_with_the_project_or_a_builtin(tmp_path: Path) -> None:
    project = read_project(project_with(tmp_path, {"mine": "./chat.py:graph"}))
    echo = "tests.doubles.echo_graph:build_graph"
    with pytest.raises(ProjectError, match="'mine' is in ORCA_GRAPHS and in langgraph.json"):
        workflow_registry(builtins=True, extra_graphs={"mine": echo}, project=project)
    with pytest.raises(ProjectError, match="graph 'rag' of ORCA_GRAPHS has the name of a built"):
        workflow_registry(builtins=True, extra_graphs={"rag": echo}, project=None)


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("not_a_graph", "graph 'mine' is a int, not a compiled graph"),
        ("per_run", "graph 'mine': per_run(config) builds a graph per run"),
    ],
)
def test_what_is_not_a_graph_is_refused(tmp_path: Path, attribute: str, message: str) -> None:
    project = read_project(project_with(tmp_path, {"mine": f"./chat.py:{attribute}"}))
    with pytest.raises(ProjectError) as refused:
        workflow_registry(builtins=True, extra_graphs={}, project=project)
    assert str(refused.value).startswith(message)
