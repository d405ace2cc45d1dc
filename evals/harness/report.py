"""Score a run and write it as `report.json` (everything) and `summary.md` (for people).

Aggregates are always computed from the per-question rows by `summarise`, so a report
read back from disk can be re-summarised over any subset of its questions (`compare`).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.harness import scorers

if TYPE_CHECKING:
    from evals.harness.runner import EvalRun, QuestionRun

SCHEMA = 1
SCORES = ("recall_at_k", "mrr", "fact_coverage", "supported_share")
METHODS = {
    "recall_at_k": (
        "Share of a question's labelled corpus files found among the files of the top-k "
        "retrieved chunks (k = top_k), averaged over questions."
    ),
    "mrr": "Mean over questions of 1/rank of the first labelled file among the retrieved files.",
    "fact_coverage": (
        "Share of a question's expected facts whose words appear, in order, in the answer "
        "after lower-casing and dropping punctuation (a fact may list interchangeable forms, "
        "`twelve|12`); averaged over questions."
    ),
    "supported_share": (
        "Share of answers whose every sentence is supported: a sentence is supported when at "
        f"least {scorers.SUPPORT_THRESHOLD:.0%} of its content words (lower-cased, stop words "
        "and citation markers removed) and all of its numbers occur in the retrieved "
        "passages. An answer with no content words counts as unsupported."
    ),
    "latency_ms": (
        "Per stage: time from the previous graph update to the node's own update (includes "
        "its checkpoint write); total: the whole run of one question. p50/p95 over questions."
    ),
    "tokens": "Sum of usage_metadata of the chat model calls (input = prompt, output = answer).",
}


def score_question(record: QuestionRun) -> dict[str, Any]:
    """Return the report row of one question: its answer, sources and scores."""
    question = record.question
    retrieved = scorers.ranked_documents(source["source"] for source in record.sources)
    support = scorers.claim_support(record.answer, [source["text"] for source in record.sources])
    found = [fact for fact in question.facts if scorers.fact_found(fact, record.answer)]
    return {
        "id": question.id,
        "question": question.question,
        "answer": record.answer,
        "passages": list(question.passages),
        "retrieved": retrieved,
        "recall_at_k": scorers.recall_at_k(retrieved, question.passages),
        "reciprocal_rank": scorers.reciprocal_rank(retrieved, question.passages),
        "facts_found": found,
        "facts_missing": [fact for fact in question.facts if fact not in found],
        "fact_coverage": scorers.fact_coverage(record.answer, question.facts),
        "sentences": support.sentences,
        "supported_sentences": support.supported,
        "supported": support.answer_supported,
        "latency_ms": {stage: round(ms, 2) for stage, ms in record.stages_ms.items()},
        "tokens": {"input": record.input_tokens, "output": record.output_tokens},
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate per-question rows into scores, latency percentiles and token totals."""
    scores = {
        "recall_at_k": scorers.mean([row["recall_at_k"] for row in rows]),
        "mrr": scorers.mean([row["reciprocal_rank"] for row in rows]),
        "fact_coverage": scorers.mean([row["fact_coverage"] for row in rows]),
        "supported_share": scorers.mean([float(row["supported"]) for row in rows]),
    }
    stages: dict[str, list[float]] = {}
    for row in rows:
        for stage, ms in row["latency_ms"].items():
            stages.setdefault(stage, []).append(ms)
    latency = {
        stage: {
            "p50": round(scorers.percentile(values, 50), 2),
            "p95": round(scorers.percentile(values, 95), 2),
        }
        for stage, values in stages.items()
    }
    tokens_in = sum(row["tokens"]["input"] for row in rows)
    tokens_out = sum(row["tokens"]["output"] for row in rows)
    count = max(len(rows), 1)
    return {
        "questions": len(rows),
        "scores": {name: round(value, 4) for name, value in scores.items()},
        "latency_ms": latency,
        "tokens": {
            "input": tokens_in,
            "output": tokens_out,
            "input_per_question": round(tokens_in / count, 1),
            "output_per_question": round(tokens_out / count, 1),
        },
    }


def build_report(run: EvalRun, floors: dict[str, float] | None = None) -> dict[str, Any]:
    """Return the whole report of a run as JSON-ready data."""
    rows = [score_question(record) for record in run.records]
    summary = summarise(rows)
    floors = floors or {}
    return {
        "schema": SCHEMA,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dataset": {
            "name": run.dataset.name,
            "version": run.dataset.version,
            "fingerprint": run.dataset.fingerprint,
            "documents": len(run.dataset.documents),
            "questions_total": len(run.dataset.questions),
        },
        "run": {
            "workflow": run.options.workflow,
            "chat_model": run.options.chat_model,
            "chat_provider": run.chat_label,
            "embedding_provider": run.embedding_label,
            "top_k": run.top_k,
            "chat_max_tokens": run.chat_max_tokens,
            "limit": run.options.limit,
            "collection": run.collection,
            "ingest_s": round(run.ingest_s, 3),
            "chunks": run.chunk_count,
        },
        **summary,
        "floors": floors,
        "below_floor": [
            name for name, floor in floors.items() if summary["scores"].get(name, 0.0) < floor
        ],
        "methods": METHODS,
        "per_question": rows,
    }


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write `report.json` and `summary.md` into `out_dir` (created); return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "summary.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    md_path.write_text(render_markdown(report), "utf-8")
    return json_path, md_path


def load_report(path: Path) -> dict[str, Any]:
    """Read a `report.json`.

    Raises:
        ValueError: when the file is not a report of this schema.
    """
    report: dict[str, Any] = json.loads(path.read_text("utf-8"))
    if report.get("schema") != SCHEMA or "per_question" not in report:
        raise ValueError(f"{path} is not an eval report (schema {SCHEMA})")
    return report


def render_markdown(report: dict[str, Any]) -> str:
    """Render the summary people read: scores, latency, tokens, methods, misses."""
    data, run, floors = report["dataset"], report["run"], report.get("floors", {})
    lines = [
        f"# Eval: {data['name']}@{data['version']} · {run['workflow']}",
        "",
        f"{report['questions']} of {data['questions_total']} questions · chat "
        f"`{run['chat_model']}` = {run['chat_provider']} (max {run['chat_max_tokens']} "
        f"tokens) · embeddings {run['embedding_provider']} · top_k {run['top_k']} · "
        f"{run['chunks']} chunks ingested in {run['ingest_s']:.1f} s · {report['created_at']}",
        "",
        "| score | value | floor |",
        "|---|---|---|",
    ]
    for name in SCORES:
        floor = floors.get(name)
        shown = f"{floor:.3f}" if floor is not None else "–"
        mark = " ⚠ below floor" if name in report.get("below_floor", []) else ""
        lines.append(f"| {name} | {report['scores'][name]:.3f} | {shown}{mark} |")
    lines += ["", "| stage | p50 ms | p95 ms |", "|---|---|---|"]
    for stage, values in report["latency_ms"].items():
        lines.append(f"| {stage} | {values['p50']:.1f} | {values['p95']:.1f} |")
    tokens = report["tokens"]
    lines += [
        "",
        f"Tokens: {tokens['input']} in, {tokens['output']} out "
        f"({tokens['input_per_question']} / {tokens['output_per_question']} per question).",
    ]
    comparison = report.get("comparison")
    if comparison:
        lines += ["", *comparison_lines(comparison)]
    lines += ["", "## Methods", ""]
    lines += [f"- **{name}**: {text}" for name, text in report["methods"].items()]
    misses = [row for row in report["per_question"] if row["facts_missing"]]
    if misses:
        lines += ["", "## Missed facts", "", "| id | missing | answer |", "|---|---|---|"]
        for row in misses:
            answer = " ".join(row["answer"].split()).replace("|", "\\|")[:160]
            lines.append(f"| {row['id']} | {', '.join(row['facts_missing'])} | {answer} |")
    return "\n".join(lines) + "\n"


def comparison_lines(comparison: dict[str, Any]) -> list[str]:
    """Render a comparison (see `compare.Comparison.as_dict`) as Markdown."""
    lines = [
        f"## Against {comparison['previous']} ({comparison['common_questions']} common questions)",
        "",
        "| metric | previous | current | change |",
        "|---|---|---|---|",
    ]
    for change in comparison["changes"]:
        flag = " **regression**" if change["regression"] else ""
        places = 1 if change["metric"].startswith("latency") else 3
        before, now = change["previous"], change["current"]
        lines.append(
            f"| {change['metric']} | {before:.{places}f} | {now:.{places}f} "
            f"| {now - before:+.{places}f}{flag} |"
        )
    lines += [f"- note: {warning}" for warning in comparison["warnings"]]
    return lines
