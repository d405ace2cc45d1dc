"""Importing graph and app targets: file paths relative to the config, and modules."""

from pathlib import Path

import pytest

from server.projects.config import ProjectError
from server.projects.targets import import_target

GRAPH_FILE = """
from langgraph.graph import StateGraph
from typing_extensions import TypedDict

{imports}

class State(TypedDict):
    text: str

builder = StateGraph(State)
builder.add_node("echo", lambda state: {{"text": state["text"] + MARK}})
builder.add_edge("__start__", "echo")
graph = builder.compile()
"""


def src_layout(root: Path, package: str, imports: str) -> None:
    """Write `src/<package>/{__init__,marks,graph}.py` as react-agent lays out a project."""
    folder = root / "src" / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "marks.py").write_text("MARK = '!'\n")
    (folder / "graph.py").write_text(GRAPH_FILE.format(imports=imports))


@pytest.mark.parametrize("imports", ["from {package}.marks import MARK", "from .marks import MARK"])
def test_file_in_a_src_package_imports_its_package(
    tmp_path: Path, package: str, imports: str
) -> None:
    src_layout(tmp_path, package, imports.format(package=package))
    graph = import_target(tmp_path, f"./src/{package}/graph.py:graph", owner="graph 'g'")
    assert graph.invoke({"text": "hi"}) == {"text": "hi!"}
    assert type(graph).__module__.startswith("langgraph")


def test_file_outside_a_package_imports_its_siblings(tmp_path: Path, package: str) -> None:
    (tmp_path / f"{package}_marks.py").write_text("MARK = '?'\n")
    (tmp_path / "agent.py").write_text(
        GRAPH_FILE.format(imports=f"from {package}_marks import MARK")
    )
    graph = import_target(tmp_path, "agent.py:graph", owner="graph 'g'")
    assert graph.invoke({"text": "hi"}) == {"text": "hi?"}


def test_module_target(tmp_path: Path) -> None:
    found = import_target(tmp_path, "tests.doubles.echo_graph:build_graph", owner="graph 'g'")
    assert callable(found)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("./missing.py:graph", "graph 'g': no file './missing.py' in "),
        (
            "./broken.py:graph",
            "graph 'g': importing './broken.py' failed: KeyError: 'NEEDED_KEY' (",
        ),
        (
            "./needs.py:graph",
            "No module named 'not_installed_pkg'; add the package to 'dependencies'",
        ),
        ("./broken.py:missing", "importing './broken.py' failed"),
        ("./fine.py:missing", "graph 'g': './fine.py' has no 'missing'"),
        ("no_such_module_xyz:graph", "importing 'no_such_module_xyz' failed"),
        (":graph", "is not 'path/to/file.py:attribute'"),
    ],
)
def test_bad_target_is_one_line_naming_the_graph(tmp_path: Path, target: str, message: str) -> None:
    (tmp_path / "broken.py").write_text("import os\nVALUE = os.environ['NEEDED_KEY']\n")
    (tmp_path / "needs.py").write_text("import not_installed_pkg\n")
    (tmp_path / "fine.py").write_text("graph = None\n")
    with pytest.raises(ProjectError) as refused:
        import_target(tmp_path, target, owner="graph 'g'")
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    error = refused.value  # no chained traceback for the log either
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
