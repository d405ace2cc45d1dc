"""`dependencies`: what is missing, and the pip command `orca deps install` runs."""

import json
import sys
from pathlib import Path

import pytest

from server.projects.config import ProjectError, read_project
from server.projects.dependencies import missing, pip_command


def project(tmp_path: Path, dependencies: list[str]) -> Path:
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"graphs": {"g": "./g.py:graph"}, "dependencies": dependencies}))
    return path


def test_installed_packages_and_plain_folders_are_not_missing(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()  # no pyproject.toml: only put on sys.path
    config = project(tmp_path, ["langgraph>=1.0", "fastapi", "./tools"])
    assert missing(read_project(config)) == []


def test_missing_package_local_project_and_version(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "never-installed-xyz"\n')
    (tmp_path / "requirements.txt").write_text("fastapi  # the web app\nnope-not-here-xyz\n")
    config = project(tmp_path, [".", "langgraph<0.0.1", "also-absent-xyz"])
    assert missing(read_project(config)) == [
        ". (package 'never-installed-xyz')",
        "nope-not-here-xyz (not installed)",
        f"langgraph<0.0.1 ({__import__('importlib.metadata').metadata.version('langgraph')} installed)",
        "also-absent-xyz (not installed)",
    ]


def test_pip_command_installs_local_paths_editable_and_names_as_given(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    (tmp_path / "requirements.txt").write_text("fastapi\n")
    (tmp_path / "plain").mkdir()
    config = read_project(project(tmp_path, [".", "./plain", "langchain-openai>=0.3"]))
    root = str(tmp_path.resolve())
    assert pip_command(config) == [
        sys.executable, "-m", "pip", "install",
        "-r", f"{root}/requirements.txt", "-e", root, "langchain-openai>=0.3",
    ]  # fmt: skip
    assert pip_command(config, editable=False, extra=["--no-index"])[-3:] == [
        root,
        "langchain-openai>=0.3",
        "--no-index",
    ]


@pytest.mark.parametrize(
    ("dependencies", "message"),
    [(["./absent"], "dependency './absent': no folder"), (["not a requirement!"], "is not a pip")],
)
def test_bad_dependency(tmp_path: Path, dependencies: list[str], message: str) -> None:
    with pytest.raises(ProjectError, match=message):
        missing(read_project(project(tmp_path, dependencies)))
