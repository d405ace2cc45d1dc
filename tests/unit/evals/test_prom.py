from pathlib import Path

from evals.harness.prom import write_prom_file
from tests.unit.evals.reports import report, row


def test_scores_floors_and_latencies_become_gauges(tmp_path: Path) -> None:
    data = report([row("q1"), row("q2", coverage=0.0)])
    data["floors"] = {"recall_at_k": 0.9}
    path = tmp_path / "metrics" / "orca_eval.prom"
    write_prom_file(data, path)
    text = path.read_text()
    labels = 'dataset="orca-handbook@v1"'
    assert f'orca_eval_score{{{labels},metric="recall_at_k"}} 1.0' in text
    assert f'orca_eval_score{{{labels},metric="fact_coverage"}} 0.5' in text
    assert f'orca_eval_score{{{labels},metric="supported_share"}} 1.0' in text
    assert f'orca_eval_floor{{{labels},metric="recall_at_k"}} 0.9' in text
    assert 'orca_eval_floor{dataset="orca-handbook@v1",metric="mrr"}' not in text
    assert f'orca_eval_latency_seconds{{{labels},quantile="0.5",stage="generate"}} 1.0' in text
    assert "# TYPE orca_eval_last_run_timestamp_seconds gauge" in text
