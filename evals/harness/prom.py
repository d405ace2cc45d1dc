"""Write a report's scores as a Prometheus textfile (node_exporter's textfile collector)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from evals.harness.report import SCORES


def write_prom_file(report: dict[str, Any], path: Path) -> None:
    """Write `orca_eval_score` and `orca_eval_floor` per metric, plus p50/p95 latencies.

    `write_to_textfile` writes a temporary file and renames it, so a collector never
    reads half a file.
    """
    registry = CollectorRegistry()
    dataset = f"{report['dataset']['name']}@{report['dataset']['version']}"
    score = Gauge(
        "orca_eval_score",
        "Eval score of the last run (0-1).",
        ["dataset", "metric"],
        registry=registry,
    )
    floor = Gauge(
        "orca_eval_floor",
        "Committed minimum for the eval score (0-1).",
        ["dataset", "metric"],
        registry=registry,
    )
    latency = Gauge(
        "orca_eval_latency_seconds",
        "Per-stage latency of the last eval run.",
        ["dataset", "stage", "quantile"],
        registry=registry,
    )
    finished = Gauge(
        "orca_eval_last_run_timestamp_seconds",
        "When the last eval run finished (Unix time).",
        ["dataset"],
        registry=registry,
    )
    for metric in SCORES:
        score.labels(dataset, metric).set(report["scores"][metric])
        if metric in report.get("floors", {}):
            floor.labels(dataset, metric).set(report["floors"][metric])
    for stage, values in report["latency_ms"].items():
        latency.labels(dataset, stage, "0.5").set(values["p50"] / 1000)
        latency.labels(dataset, stage, "0.95").set(values["p95"] / 1000)
    finished.labels(dataset).set_to_current_time()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
