"""`orca eval`: score a workflow on a versioned dataset with the server's own graphs.

Unlike `ingest` and `ask`, it does not talk to a running server: it opens the app's
lifespan itself (same registry, builders and `ORCA_*` settings) over a data directory of
its own, a temporary one unless `--data-dir` is given, so it never contends for the
local Qdrant lock of a server that is running.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from evals.harness.dataset import DEFAULT_DATASET, Dataset, DatasetError, load_dataset
from server.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from evals.harness.runner import EvalOptions, EvalRun

console = Console()
errors = Console(stderr=True)

LOCAL_MAX_TOKENS = 64
"""Answer length cap on the local chat model unless ORCA_CHAT_MAX_TOKENS or --max-tokens
says otherwise: SmolLM2 on 2 cores takes 1-6 s per answer, and a correct answer to the
dataset's questions fits in 64 tokens. Other providers keep ORCA_CHAT_MAX_TOKENS."""


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


def eval_command(
    dataset: Annotated[
        str, typer.Option(help="Shipped dataset (name, name@v1) or a dataset folder.")
    ] = DEFAULT_DATASET,
    workflow: Annotated[str, typer.Option(help="rag, rag-chat or agent.")] = "rag",
    top_k: Annotated[
        int | None, typer.Option(min=1, max=50, help="Chunks retrieved (ORCA_TOP_K).")
    ] = None,
    model: Annotated[str, typer.Option(help="Chat model alias: llm-01 or llm-02.")] = "llm-01",
    limit: Annotated[int | None, typer.Option(min=1, help="Ask only the first N.")] = None,
    compare: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Earlier report.json to compare with."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default var/evals/<timestamp>).")
    ] = None,
    prom_file: Annotated[
        Path | None, typer.Option(help="Also write the scores as a Prometheus textfile.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data dir for checkpoints and local Qdrant (temp).")
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"Answer length cap (ORCA_CHAT_MAX_TOKENS; {LOCAL_MAX_TOKENS} if local).",
        ),
    ] = None,
) -> None:
    """Score a workflow on an eval dataset; write report.json and summary.md.

    Uses the configured models (local by default); exits 1 if --compare finds a regression.
    """
    from evals.harness.baselines import load_floors
    from evals.harness.compare import compare_reports
    from evals.harness.prom import write_prom_file
    from evals.harness.report import build_report, load_report, write_report
    from evals.harness.runner import EvalOptions

    try:
        loaded = load_dataset(dataset)
        floors = load_floors(loaded.name, workflow)
        previous = load_report(compare) if compare else None
    except (DatasetError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    options = EvalOptions(workflow=workflow, top_k=top_k, chat_model=model, limit=limit)
    with ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="orca-eval-")))
        run = _run(_settings(data_dir, max_tokens), loaded, options)
    report = build_report(run, floors)
    comparison = None
    if previous is not None:
        comparison = compare_reports(report, previous, previous_name=str(compare))
        report["comparison"] = comparison.as_dict()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path, md_path = write_report(report, out or Path("var/evals") / stamp)
    if prom_file is not None:
        write_prom_file(report, prom_file)
    _print_summary(report)
    console.print(f"wrote {json_path} and {md_path}" + (f" and {prom_file}" if prom_file else ""))
    if comparison is not None:
        for warning in comparison.warnings:
            console.print(f"[yellow]note:[/] {warning}", highlight=False)
        if comparison.regressions:
            for change in comparison.regressions:
                errors.print(
                    f"[bold red]regression:[/] {change.metric} {change.previous:.3f} → "
                    f"{change.current:.3f}",
                    highlight=False,
                )
            raise typer.Exit(code=1)
        console.print(f"no regressions against {compare}")


def _settings(data_dir: Path, max_tokens: int | None) -> Settings:
    """Read the `ORCA_*` settings with the eval's data dir and answer length cap."""
    try:
        settings = load_settings(data_dir=data_dir)
        chosen = "chat_max_tokens" in settings.model_fields_set
        if max_tokens is None and not chosen and settings.chat_provider == "local":
            max_tokens = LOCAL_MAX_TOKENS
        if max_tokens is not None:
            settings = load_settings(data_dir=data_dir, chat_max_tokens=max_tokens)
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    return settings


def _run(settings: Settings, dataset: Dataset, options: EvalOptions) -> EvalRun:
    """Run the eval with a progress bar; turn a dependency that is down into one line."""
    import ollama

    from evals.harness.runner import EvalError, run_eval
    from server.embeddings.errors import ApiError
    from server.errors import UPSTREAM_ERRORS

    total = len(dataset.questions[: options.limit])
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{dataset.label}: loading models, ingesting", total=None, note="")

        def ingested(chunks: int) -> None:
            progress.update(
                task, description=f"{dataset.label} · {options.workflow}", total=total, note=""
            )
            progress.console.print(f"ingested {len(dataset.documents)} documents, {chunks} chunks")

        def answered(record: Any) -> None:
            seconds = record.stages_ms["total"] / 1000
            progress.update(task, advance=1, note=f"{record.question.id} {seconds:.1f}s")

        try:
            return asyncio.run(
                run_eval(settings, dataset, options, on_ingested=ingested, on_answered=answered)
            )
        except EvalError as exc:
            raise _fail(str(exc)) from None
        except (*UPSTREAM_ERRORS, ApiError, ollama.ResponseError) as exc:
            dependency = next(
                (name for kind, name in UPSTREAM_ERRORS.items() if isinstance(exc, kind)),
                "a model server",
            )
            raise _fail(f"{dependency} failed: {type(exc).__name__}: {exc}") from None


def _print_summary(report: dict[str, Any]) -> None:
    """Print the scores (with floors and previous values) and p50 latencies."""
    changes = {
        change["metric"]: change for change in (report.get("comparison") or {}).get("changes", [])
    }
    table = Table(title=f"{report['questions']} questions · {report['run']['workflow']}")
    for column in ("metric", "value", "floor", "previous"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, value in report["scores"].items():
        floor = report["floors"].get(name)
        change = changes.get(name)
        style = "red" if name in report["below_floor"] or (change and change["regression"]) else ""
        table.add_row(
            name,
            f"[{style}]{value:.3f}[/]" if style else f"{value:.3f}",
            f"{floor:.3f}" if floor is not None else "–",
            f"{change['previous']:.3f}" if change else "–",
        )
    for stage, values in report["latency_ms"].items():
        change = changes.get(f"latency_p50_ms.{stage}")
        table.add_row(
            f"p50 ms {stage}",
            f"{values['p50']:.1f}",
            "–",
            f"{change['previous']:.1f}" if change else "–",
        )
    tokens = report["tokens"]
    table.add_row("tokens in / out", f"{tokens['input']} / {tokens['output']}", "–", "–")
    console.print(table)
