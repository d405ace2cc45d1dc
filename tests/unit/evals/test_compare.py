from evals.harness.compare import compare_reports
from tests.unit.evals.reports import report, row


def metrics(comparison) -> dict[str, tuple[float, float, bool]]:  # noqa: ANN001
    return {c.metric: (c.previous, c.current, c.regression) for c in comparison.changes}


def test_the_same_report_has_no_regressions_and_no_warnings() -> None:
    rows = [row("q1"), row("q2", rr=0.5)]
    comparison = compare_reports(report(rows), report(rows))
    assert comparison.regressions == []
    assert comparison.warnings == []
    assert comparison.common_questions == 2
    assert metrics(comparison)["mrr"] == (0.75, 0.75, False)


def test_a_score_lower_by_more_than_the_tolerance_is_a_regression() -> None:
    before = report([row(f"q{i}") for i in range(10)])
    one_worse = report([row("q0", coverage=0.0)] + [row(f"q{i}") for i in range(1, 10)])
    comparison = compare_reports(one_worse, before)
    assert [c.metric for c in comparison.regressions] == ["fact_coverage"]
    assert metrics(comparison)["fact_coverage"] == (1.0, 0.9, True)


def test_a_drop_within_the_tolerance_is_not_a_regression() -> None:
    before = report([row(f"q{i}") for i in range(50)])
    after = report([row("q0", coverage=0.0)] + [row(f"q{i}") for i in range(1, 50)])
    assert metrics(compare_reports(after, before))["fact_coverage"] == (1.0, 0.98, False)
    assert compare_reports(after, before, score_tolerance=0.01).regressions != []


def test_better_scores_are_never_regressions() -> None:
    before = report([row("q1", recall=0.0, rr=0.0, coverage=0.0, supported=False)])
    assert compare_reports(report([row("q1")]), before).regressions == []


def test_p50_latency_up_by_more_than_a_quarter_is_a_regression() -> None:
    before = report([row("q1", generate_ms=1000.0)])
    slower = report([row("q1", generate_ms=1300.0)])
    found = metrics(compare_reports(slower, before))
    assert found["latency_p50_ms.generate"] == (1000.0, 1300.0, True)
    assert found["latency_p50_ms.total"] == (1020.0, 1320.0, True)
    assert found["latency_p50_ms.retrieve"] == (20.0, 20.0, False)
    a_bit_slower = report([row("q1", generate_ms=1200.0)])
    assert compare_reports(a_bit_slower, before).regressions == []


def test_a_few_milliseconds_more_on_a_fast_stage_is_jitter() -> None:
    before = report([row("q1", generate_ms=4.0)])
    after = report([row("q1", generate_ms=8.0)])  # +100 %, but only +4 ms
    assert compare_reports(after, before).regressions == []


def test_only_common_questions_are_compared() -> None:
    before = report([row("q1"), row("q2"), row("q3", recall=0.0, rr=0.0)])
    subset = report([row("q1"), row("q2"), row("q9", recall=0.0, rr=0.0)])
    comparison = compare_reports(subset, before)
    assert comparison.common_questions == 2
    assert metrics(comparison)["recall_at_k"] == (1.0, 1.0, False)
    assert comparison.regressions == []


def test_nothing_in_common_is_said_and_compares_nothing() -> None:
    comparison = compare_reports(report([row("q1")]), report([row("q2")]))
    assert comparison.changes == []
    assert comparison.warnings == ["no question in common: nothing compared"]


def test_differences_in_dataset_and_run_are_named() -> None:
    before = report([row("q1")])
    after = report([row("q1")], workflow="rag-chat", top_k=2)
    after["dataset"]["fingerprint"] = "0" * 16
    warnings = compare_reports(after, before).warnings
    assert "the dataset's files changed since the previous report" in warnings
    assert "workflow: rag → rag-chat" in warnings
    assert "top_k: 4 → 2" in warnings


def test_as_dict_lists_the_regressions() -> None:
    before = report([row("q1")])
    after = report([row("q1", supported=False)])
    data = compare_reports(after, before, previous_name="base.json").as_dict()
    assert data["previous"] == "base.json"
    assert data["regressions"] == ["supported_share"]
