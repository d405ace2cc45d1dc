"""`orca serve --config` refusals, and `orca deps install`."""

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from server.cli import app


@pytest.fixture(autouse=True)
def _no_log_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    # `serve` configures the process's logging; these tests stop before it serves.
    monkeypatch.setattr("server.observability.logs.configure_logging", lambda **_: None)


def config(tmp_path: Path, graphs: dict[str, str], **more: object) -> Path:
    (tmp_path / "broken.py").write_text("raise RuntimeError('set API_KEY in .env')\n")
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"graphs": graphs, **more}))
    return path


@pytest.mark.parametrize(
    ("graphs", "line"),
    [
        (
            {"g": "./broken.py:graph"},
            "error: graph 'g': importing './broken.py' failed: RuntimeError: set API_KEY in .env (",
        ),
        ({"g": "./nowhere.py:graph"}, "error: graph 'g': no file './nowhere.py' in "),
        (
            {"agent": "tests.doubles.echo_graph:build_graph"},
            "error: graph 'agent' of langgraph.json has the name of a built-in workflow",
        ),
    ],
)
def test_serve_refuses_in_one_line(tmp_path: Path, graphs: dict[str, str], line: str) -> None:
    result = CliRunner().invoke(app, ["serve", "--config", str(config(tmp_path, graphs))])
    assert result.exit_code == 1
    assert result.stderr.startswith(line), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_serve_reads_orca_config(tmp_path: Path) -> None:
    path = config(tmp_path, {"g": "./g.py:graph"}, dependencies=["absent-package-xyz"])
    result = CliRunner().invoke(app, ["serve"], env={"ORCA_CONFIG": str(path)})
    assert result.exit_code == 1
    assert "run `orca deps install --config" in result.stderr


def test_deps_install_dry_run_prints_the_pip_command(tmp_path: Path) -> None:
    path = config(tmp_path, {"g": "./g.py:graph"}, dependencies=["fastapi", "."])
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    result = CliRunner().invoke(
        app, ["deps", "install", "--config", str(path), "--dry-run", "--", "--no-index"]
    )
    assert result.exit_code == 0, result.output
    root = tmp_path.resolve()
    assert result.stdout.strip() == f"{sys.executable} -m pip install fastapi -e {root} --no-index"


def test_deps_install_bad_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["deps", "install", "--config", str(tmp_path / "x.json")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no config file at")
