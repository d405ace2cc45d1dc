"""`orca eval` end to end over fake models, and its refusals (one line each)."""

import functools
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from evals.harness import runner as harness_runner
from server.commands.eval import _settings, eval_command
from tests.doubles.embedder import fake_embedder
from tests.unit.evals.fakes import fake_chat

runner = CliRunner()
cli = typer.Typer()
cli.command("eval")(eval_command)
cli.command("noop")(lambda: None)  # a second command, so `eval` is a subcommand as in `orca`


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    run_eval = functools.partial(
        harness_runner.run_eval, models=fake_chat, embedder=fake_embedder()
    )
    monkeypatch.setattr(harness_runner, "run_eval", run_eval)


@pytest.mark.usefixtures("fake_models")
def test_a_run_writes_the_report_the_summary_and_the_textfile(tmp_path: Path) -> None:
    out, prom = tmp_path / "out", tmp_path / "orca_eval.prom"
    result = runner.invoke(
        cli, ["eval", "--limit", "2", "--out", str(out), "--prom-file", str(prom)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["questions"] == 2
    assert report["run"]["chat_max_tokens"] == 64
    assert report["floors"]["recall_at_k"] > 0  # the committed floors of the rag workflow
    assert (out / "summary.md").read_text().startswith("# Eval: orca-handbook@v1 · rag")
    assert "orca_eval_floor" in prom.read_text()
    assert "recall_at_k" in result.output


@pytest.mark.usefixtures("fake_models")
def test_a_regression_against_the_previous_report_exits_1(tmp_path: Path) -> None:
    first = runner.invoke(cli, ["eval", "--limit", "2", "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    previous = json.loads((tmp_path / "a" / "report.json").read_text())
    for row in previous["per_question"]:
        row["fact_coverage"] = 1.0  # the fake answer covers only q01's fact
    (tmp_path / "better.json").write_text(json.dumps(previous))
    again = runner.invoke(
        cli,
        ["eval", "--limit", "2", "--out", str(tmp_path / "b")]
        + ["--compare", str(tmp_path / "better.json")],
    )
    assert again.exit_code == 1, again.output
    assert "regression: fact_coverage 1.000 → 0.500" in again.output
    compared = json.loads((tmp_path / "b" / "report.json").read_text())["comparison"]
    assert "fact_coverage" in compared["regressions"]


@pytest.mark.usefixtures("fake_models")
def test_max_tokens_follows_the_option_then_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(cli, ["eval", "--limit", "1", "--out", str(tmp_path / "a"), "--max-tokens", "9"])
    monkeypatch.setenv("ORCA_CHAT_MAX_TOKENS", "99")
    runner.invoke(cli, ["eval", "--limit", "1", "--out", str(tmp_path / "b")])
    tokens = [
        json.loads((tmp_path / name / "report.json").read_text())["run"]["chat_max_tokens"]
        for name in ("a", "b")
    ]
    assert tokens == [9, 99]


def test_other_chat_providers_keep_their_configured_answer_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCA_CHAT_PROVIDER", "openai")
    monkeypatch.setenv("ORCA_LLM01_URL", "http://127.0.0.1:9/v1")
    assert _settings(tmp_path, None).chat_max_tokens == 160  # the setting's default
    assert _settings(tmp_path, 32).chat_max_tokens == 32


def test_an_unknown_dataset_is_one_line() -> None:
    result = runner.invoke(cli, ["eval", "--dataset", "nope"])
    assert result.exit_code == 1
    assert "no dataset 'nope'" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_workflow_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["eval", "--workflow", "ingest", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown workflow 'ingest'" in result.output
    assert not (tmp_path / "report.json").exists()


def test_compare_with_a_file_that_is_no_report_is_one_line(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    result = runner.invoke(cli, ["eval", "--compare", str(other)])
    assert result.exit_code == 1
    assert "is not an eval report" in result.output


def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCA_CHAT_PROVIDER", "nonsense")
    result = runner.invoke(cli, ["eval"])
    assert result.exit_code == 1
    assert "ORCA_CHAT_PROVIDER" in result.output
