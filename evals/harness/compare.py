"""Compare a report with an earlier one and flag regressions.

Both reports are re-summarised over the questions they have in common, so a run with
`--limit 12` is compared with the same 12 questions of a full baseline, never with the
baseline's average over questions it did not ask.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evals.harness.report import SCORES, summarise

SCORE_TOLERANCE = 0.02
"""A score this much lower than before is a regression (one question in 50)."""
LATENCY_TOLERANCE = 0.25
"""A p50 this much higher than before (25 %) is a regression..."""
LATENCY_MIN_DELTA_MS = 5.0
"""...if it is also this many ms higher: jitter on a 10 ms stage is not a regression."""
RUN_KEYS = ("workflow", "chat_model", "chat_provider", "embedding_provider", "top_k")


@dataclass(frozen=True)
class Change:
    """One metric, before and now."""

    metric: str
    previous: float
    current: float
    regression: bool


@dataclass
class Comparison:
    """The result of comparing two reports."""

    previous: str
    """Where the earlier report came from (its path)."""
    common_questions: int
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Why the comparison may not be like for like (another dataset version, model...)."""

    @property
    def regressions(self) -> list[Change]:
        """Return the changes flagged as regressions."""
        return [change for change in self.changes if change.regression]

    def as_dict(self) -> dict[str, Any]:
        """Return JSON-ready data for the report."""
        return {
            "previous": self.previous,
            "common_questions": self.common_questions,
            "changes": [asdict(change) for change in self.changes],
            "regressions": [change.metric for change in self.regressions],
            "warnings": self.warnings,
        }


def compare_reports(
    current: dict[str, Any],
    previous: dict[str, Any],
    *,
    previous_name: str = "previous report",
    score_tolerance: float = SCORE_TOLERANCE,
    latency_tolerance: float = LATENCY_TOLERANCE,
) -> Comparison:
    """Compare two reports' scores and p50 latencies over their common questions.

    A score is a regression when it is lower than before by more than `score_tolerance`;
    a stage's p50 latency when it is higher by more than `latency_tolerance` (a fraction)
    and by more than `LATENCY_MIN_DELTA_MS`. Token counts are not compared.
    """
    comparison = Comparison(previous=previous_name, common_questions=0)
    comparison.warnings.extend(differences(current, previous))
    ids = {row["id"] for row in previous["per_question"]}
    now_rows = [row for row in current["per_question"] if row["id"] in ids]
    common = {row["id"] for row in now_rows}
    before_rows = [row for row in previous["per_question"] if row["id"] in common]
    comparison.common_questions = len(now_rows)
    if not now_rows:
        comparison.warnings.append("no question in common: nothing compared")
        return comparison
    now, before = summarise(now_rows), summarise(before_rows)
    for name in SCORES:
        old, new = before["scores"][name], now["scores"][name]
        # Rounded: scores are stored to 4 places, and 1.0 - 0.98 is 0.020000000000000018.
        worse = round(old - new, 6) > score_tolerance
        comparison.changes.append(Change(name, old, new, regression=worse))
    for stage, values in now["latency_ms"].items():
        if stage not in before["latency_ms"]:
            continue
        old, new = before["latency_ms"][stage]["p50"], values["p50"]
        slower = new > old * (1 + latency_tolerance) and new - old > LATENCY_MIN_DELTA_MS
        comparison.changes.append(Change(f"latency_p50_ms.{stage}", old, new, regression=slower))
    return comparison


def differences(current: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    """Name what differs between the two runs' dataset and settings."""
    notes = []
    now_data, old_data = current["dataset"], previous["dataset"]
    if (now_data["name"], now_data["version"]) != (old_data["name"], old_data["version"]):
        notes.append(
            f"dataset {now_data['name']}@{now_data['version']} vs "
            f"{old_data['name']}@{old_data['version']}"
        )
    elif now_data["fingerprint"] != old_data["fingerprint"]:
        notes.append("the dataset's files changed since the previous report")
    for key in RUN_KEYS:
        now_value, old_value = current["run"].get(key), previous["run"].get(key)
        if now_value != old_value:
            notes.append(f"{key}: {old_value} → {now_value}")
    return notes
