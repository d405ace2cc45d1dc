"""The committed baselines and floors: `evals/baselines/<dataset>-{local.json,floor.json}`."""

from __future__ import annotations

import json
from pathlib import Path

from evals.harness.report import SCORES

BASELINES_DIR = Path(__file__).resolve().parents[1] / "baselines"


def baseline_path(dataset: str, label: str = "local") -> Path:
    """Return the committed baseline report of a dataset, e.g. `orca-handbook-local.json`."""
    return BASELINES_DIR / f"{dataset}-{label}.json"


def floor_path(dataset: str) -> Path:
    """Return the committed floors of a dataset, e.g. `orca-handbook-floor.json`."""
    return BASELINES_DIR / f"{dataset}-floor.json"


def load_floors(dataset: str, workflow: str = "rag") -> dict[str, float]:
    """Return the floors of a dataset's scores for a workflow.

    None when the dataset has no floor file or its floors were set for another workflow
    (the file's `workflow`), since another workflow's scores are not held to them.

    Raises:
        ValueError: when the file names a metric that is not a score.
    """
    path = floor_path(dataset)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text("utf-8"))
    if data.get("workflow", workflow) != workflow:
        return {}
    floors = data["floors"]
    unknown = set(floors) - set(SCORES)
    if unknown:
        raise ValueError(f"{path}: unknown metrics {sorted(unknown)}; use {list(SCORES)}")
    return {name: float(value) for name, value in floors.items()}
