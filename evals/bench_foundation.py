"""Measure the foundation on the local models: cold start, ingest throughput, rag stages.

Ingest throughput is compared with raw `SentenceTransformer.encode` on the same chunk
texts in the same run, so the ratio shows what the workflow (splitting, batching, Qdrant
upserts, checkpoints) costs on top of the model. Prints figures; asserts nothing.

    .venv/bin/python evals/bench_foundation.py [--documents 60] [--questions 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphs.context import Context  # noqa: E402
from server.app import create_app  # noqa: E402
from server.settings import Settings  # noqa: E402

TOPICS = ["cranes", "tea", "bicycles", "budgets", "engines", "harbours", "badges", "kettles"]


def synthetic_documents(count: int) -> list[str]:
    """Return `count` distinct multi-paragraph documents (about 3 chunks each)."""
    documents = []
    for number in range(count):
        topic = TOPICS[number % len(TOPICS)]
        paragraphs = [
            f"Report {number} on {topic}, section {section}. "
            + " ".join(f"The {topic} team noted item {number}-{section}-{i}." for i in range(14))
            for section in range(3)
        ]
        documents.append("\n\n".join(paragraphs))
    return documents


async def main(documents: int, questions: int) -> None:
    """Run the measurements and print a table."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), chat_max_tokens=64)
        started = time.perf_counter()
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            cold_start = time.perf_counter() - started
            resources = app.state.resources
            ingest = resources.graphs["ingest"]
            texts = synthetic_documents(documents)
            config: dict[str, Any] = {"configurable": {"thread_id": "bench-ingest"}}
            t0 = time.perf_counter()
            result = await ingest.ainvoke({"texts": texts, "paths": []}, config, context=Context())
            ingest_s = time.perf_counter() - t0
            chunks = result["chunk_count"]

            state = await ingest.aget_state(config)
            chunk_texts = [c["text"] for c in state.values["chunks"]]
            model = resources.models.embedding_model(settings.embedding_alias).model
            t0 = time.perf_counter()
            model.encode(chunk_texts, batch_size=settings.embedding_batch_size)
            raw_s = time.perf_counter() - t0

            rag = resources.graphs["rag"]
            stages: dict[str, list[float]] = {"retrieve": [], "generate": [], "total": []}
            for number in range(questions):
                question = (
                    f"What did the {TOPICS[number % len(TOPICS)]} team note in report {number}?"
                )
                begun = last = time.perf_counter()
                async for update in rag.astream(
                    {"question": question},
                    {"configurable": {"thread_id": f"bench-rag-{number}"}},
                    context=Context(),
                ):
                    now = time.perf_counter()
                    stages[next(iter(update))].append((now - last) * 1000)
                    last = now
                stages["total"].append((time.perf_counter() - begun) * 1000)

    print(f"cold start (lifespan: checkpointer, Qdrant, both models): {cold_start:.2f} s")
    print(
        f"ingest: {documents} documents, {chunks} chunks in {ingest_s:.2f} s "
        f"= {chunks / ingest_s:.1f} chunks/s"
    )
    print(
        f"raw SentenceTransformer.encode, same {chunks} texts: {raw_s:.2f} s "
        f"= {chunks / raw_s:.1f} chunks/s"
    )
    print(f"ingest workflow / raw encode throughput: {raw_s / ingest_s:.2f}")
    for stage, samples in stages.items():
        print(
            f"rag {stage:8s} p50 {statistics.median(samples):8.1f} ms   "
            f"max {max(samples):8.1f} ms   (n={len(samples)})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=60)
    parser.add_argument("--questions", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.documents, arguments.questions))
