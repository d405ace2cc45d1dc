"""Run a workflow over a dataset through the server's own app, registry and builders.

The app is created with `server.app.create_app` and its lifespan entered, exactly as
`orca serve` does, so the eval measures the graphs, models and stores the server would
use, configured by the same `ORCA_*` settings.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import LLMResult

from evals.harness.dataset import Dataset, Question
from graphs.context import Context
from server.app import create_app
from server.embeddings.factory import open_embedder
from server.lifespan import EmbedderOpener, ModelOpener
from server.models.factory import open_models
from server.settings import Settings
from tools.files import expand_paths

WORKFLOWS = ("rag", "rag-chat", "agent")
"""Workflows that answer a question; `rag` takes `question`, the others `messages`."""
EVAL_TENANT = "eval"


class EvalError(RuntimeError):
    """The eval cannot run as asked (unknown workflow or model alias)."""


@dataclass(frozen=True)
class EvalOptions:
    """What one eval run asks for."""

    workflow: str = "rag"
    top_k: int | None = None
    """Chunks retrieved per question; unset: the server's `ORCA_TOP_K`."""
    chat_model: str = "llm-01"
    limit: int | None = None
    """Ask only the first N questions."""


@dataclass
class QuestionRun:
    """What one question produced."""

    question: Question
    answer: str
    sources: list[dict[str, Any]]
    """The retrieved passages `{source, text, score}`, best first."""
    stages_ms: dict[str, float]
    """Milliseconds per graph node (summed when a node runs twice) plus `total`."""
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class EvalRun:
    """Everything a run measured, before scoring."""

    dataset: Dataset
    options: EvalOptions
    top_k: int
    collection: str
    chat_label: str
    embedding_label: str
    chat_max_tokens: int
    ingest_s: float
    chunk_count: int
    records: list[QuestionRun] = field(default_factory=list)


class TokenCounter(AsyncCallbackHandler):
    """Sum the `usage_metadata` of every chat model call of a run.

    Only non-streaming calls carry usage on the local model, which is why the runner
    streams graph `updates` (no token streaming) rather than `astream_events`.
    """

    def __init__(self) -> None:
        """Start at zero."""
        self.input_tokens = 0
        self.output_tokens = 0

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Add the usage of each generated message."""
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                if usage:
                    self.input_tokens += int(usage.get("input_tokens", 0))
                    self.output_tokens += int(usage.get("output_tokens", 0))


def collection_name(dataset: Dataset) -> str:
    """Return the eval's own collection, e.g. `eval-orca-handbook-v1`."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"eval-{dataset.name}-{dataset.version}")[:64]


async def run_eval(
    settings: Settings,
    dataset: Dataset,
    options: EvalOptions,
    *,
    on_ingested: Callable[[int], None] | None = None,
    on_answered: Callable[[QuestionRun], None] | None = None,
    models: ModelOpener = open_models,
    embedder: EmbedderOpener = open_embedder,
) -> EvalRun:
    """Ingest the dataset's corpus into a fresh collection, then ask every question.

    Args:
        settings: the process settings (models, stores, data dir).
        dataset: the dataset to run.
        options: workflow, top-k, chat model alias, question limit.
        on_ingested: called with the chunk count once the corpus is stored.
        on_answered: called after each question.
        models: chat model opener (tests pass fakes).
        embedder: embedding provider opener (tests pass fakes).

    Raises:
        EvalError: for a workflow or chat model alias the server does not have.
    """
    if options.workflow not in WORKFLOWS:
        raise EvalError(f"unknown workflow {options.workflow!r}; use one of {list(WORKFLOWS)}")
    app = create_app(settings, models=models, embedder=embedder)
    async with app.router.lifespan_context(app):
        resources = app.state.resources
        catalog = resources.models
        if options.chat_model not in catalog.chat:
            raise EvalError(
                f"unknown chat model {options.chat_model!r}; use one of {sorted(catalog.chat)}"
            )
        collection = collection_name(dataset)
        context = Context(
            chat_model=options.chat_model,
            embedding_model=settings.embedding_alias,
            collection=collection,
            top_k=options.top_k or settings.top_k,
            tenant=EVAL_TENANT,
        )
        # A fresh collection each run: a corpus file dropped in a later dataset version
        # must not linger in a shared Qdrant and be retrieved.
        if await resources.qdrant.collection_exists(collection):
            await resources.qdrant.delete_collection(collection)
        run_id = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        ingested = await resources.graphs["ingest"].ainvoke(
            {"files": corpus_files(dataset.corpus_dir)},
            {"configurable": {"thread_id": f"eval-{run_id}-ingest"}},
            context=context,
        )
        run = EvalRun(
            dataset=dataset,
            options=options,
            top_k=context.top_k,
            collection=collection,
            chat_label=catalog.providers.get(options.chat_model, options.chat_model),
            embedding_label=catalog.providers.get(settings.embedding_alias, ""),
            chat_max_tokens=settings.chat_max_tokens,
            ingest_s=time.perf_counter() - started,
            chunk_count=int(ingested["chunk_count"]),
        )
        if on_ingested is not None:
            on_ingested(run.chunk_count)
        graph = resources.graphs[options.workflow]
        for question in dataset.questions[: options.limit]:
            record = await ask(graph, question, options.workflow, context, f"eval-{run_id}")
            run.records.append(record)
            if on_answered is not None:
                on_answered(record)
    return run


async def ask(
    graph: Any, question: Question, workflow: str, context: Context, thread_prefix: str
) -> QuestionRun:
    """Run one question on a fresh thread, timing each node and counting tokens.

    A node's time is the gap between the update before it and its own update, so it
    includes the checkpoint write after the node: what a caller waits for.
    """
    counter = TokenCounter()
    config: dict[str, Any] = {
        "configurable": {"thread_id": f"{thread_prefix}-{question.id}"},
        "callbacks": [counter],
    }
    inputs: dict[str, Any] = (
        {"question": question.question}
        if workflow == "rag"
        else {"messages": [HumanMessage(question.question)]}
    )
    stages: dict[str, float] = defaultdict(float)
    output: dict[str, Any] = {}
    started = last = time.perf_counter()
    async for mode, chunk in graph.astream(
        inputs, config, context=context, stream_mode=["updates", "values"]
    ):
        if mode == "values":
            output = chunk
            continue
        now = time.perf_counter()
        for node in chunk:
            if not node.startswith("__"):  # `__interrupt__` is no stage
                stages[node] += (now - last) * 1000
        last = now
    stages["total"] = (time.perf_counter() - started) * 1000
    return QuestionRun(
        question=question,
        answer=answer_of(output),
        sources=list(output.get("sources") or []),
        stages_ms=dict(stages),
        input_tokens=counter.input_tokens,
        output_tokens=counter.output_tokens,
    )


def answer_of(output: dict[str, Any]) -> str:
    """Return the answer: `answer` for rag, else the last AI message with text."""
    if "answer" in output:
        return str(output["answer"])
    for message in reversed(output.get("messages") or []):
        if isinstance(message, AIMessage) and str(message.content).strip():
            return str(message.content).strip()
    return ""


def corpus_files(folder: Path) -> list[dict[str, str]]:
    """Read a data set's corpus here, as `orca ingest` does, and send its contents."""
    return [
        {"source": str(file), "text": file.read_text(encoding="utf-8")}
        for file in expand_paths([folder])
    ]
