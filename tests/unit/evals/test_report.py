import json
from pathlib import Path

import pytest

from evals.harness.dataset import Question
from evals.harness.report import (
    load_report,
    render_markdown,
    score_question,
    summarise,
    write_report,
)
from evals.harness.runner import QuestionRun
from tests.unit.evals.reports import report, row


def test_a_question_is_scored_from_its_answer_and_sources() -> None:
    record = QuestionRun(
        question=Question("q1", "Who leads Heron?", ("heron.md",), ("Amara Okafor", "Tidewise")),
        answer="Amara Okafor leads Project Heron [1].",
        sources=[
            {"source": "/c/kitchen.md", "text": "The Galley.", "score": 0.5},
            {
                "source": "/c/heron.md",
                "text": "Project Heron is led by Amara Okafor.",
                "score": 0.4,
            },
        ],
        stages_ms={"retrieve": 12.345, "generate": 900.0, "total": 913.0},
        input_tokens=300,
        output_tokens=9,
    )
    scored = score_question(record)
    assert scored["retrieved"] == ["kitchen.md", "heron.md"]
    assert (scored["recall_at_k"], scored["reciprocal_rank"]) == (1.0, 0.5)
    assert (scored["facts_found"], scored["facts_missing"]) == (["Amara Okafor"], ["Tidewise"])
    assert scored["fact_coverage"] == 0.5
    assert (scored["sentences"], scored["supported_sentences"], scored["supported"]) == (1, 1, True)
    assert scored["latency_ms"]["retrieve"] == 12.35
    assert scored["tokens"] == {"input": 300, "output": 9}


def test_summarise_averages_scores_and_takes_latency_percentiles() -> None:
    rows = [
        row("q1", recall=1.0, rr=1.0, coverage=1.0, supported=True, generate_ms=100.0),
        row("q2", recall=0.5, rr=0.5, coverage=0.0, supported=False, generate_ms=300.0),
    ]
    summary = summarise(rows)
    assert summary["questions"] == 2
    assert summary["scores"] == {
        "recall_at_k": 0.75,
        "mrr": 0.75,
        "fact_coverage": 0.5,
        "supported_share": 0.5,
    }
    assert summary["latency_ms"]["generate"] == {"p50": 200.0, "p95": 290.0}
    assert summary["latency_ms"]["retrieve"] == {"p50": 20.0, "p95": 20.0}
    assert summary["tokens"] == {
        "input": 200,
        "output": 20,
        "input_per_question": 100.0,
        "output_per_question": 10.0,
    }


def test_reports_are_written_and_read_back(tmp_path: Path) -> None:
    data = report([row("q1"), row("q2", coverage=0.0)])
    data["floors"] = {"recall_at_k": 0.9, "fact_coverage": 0.6}
    data["below_floor"] = ["fact_coverage"]
    json_path, md_path = write_report(data, tmp_path / "out")
    assert load_report(json_path) == data
    summary = md_path.read_text()
    assert "# Eval: orca-handbook@v1 · rag" in summary
    assert "| recall_at_k | 1.000 | 0.900 |" in summary
    assert "| fact_coverage | 0.500 | 0.600 ⚠ below floor |" in summary
    assert "| generate | 1000.0 | 1000.0 |" in summary
    assert "| q2 | x | answer q2. |" in summary
    assert "## Methods" in summary


def test_a_comparison_is_part_of_the_summary() -> None:
    data = report([row("q1")])
    data["comparison"] = {
        "previous": "base.json",
        "common_questions": 1,
        "changes": [
            {"metric": "mrr", "previous": 1.0, "current": 0.5, "regression": True},
        ],
        "regressions": ["mrr"],
        "warnings": ["top_k: 4 → 2"],
    }
    summary = render_markdown(data)
    assert "## Against base.json (1 common questions)" in summary
    assert "| mrr | 1.000 | 0.500 | -0.500 **regression** |" in summary
    assert "- note: top_k: 4 → 2" in summary


def test_a_file_that_is_no_report_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="is not an eval report"):
        load_report(path)
