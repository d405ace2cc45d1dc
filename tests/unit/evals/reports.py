"""Small hand-made reports for the report and comparison tests."""

from typing import Any


def row(
    qid: str,
    *,
    recall: float = 1.0,
    rr: float = 1.0,
    coverage: float = 1.0,
    supported: bool = True,
    generate_ms: float = 1000.0,
    tokens: tuple[int, int] = (100, 10),
) -> dict[str, Any]:
    return {
        "id": qid,
        "question": f"question {qid}?",
        "answer": f"answer {qid}.",
        "passages": ["a.md"],
        "retrieved": ["a.md"],
        "recall_at_k": recall,
        "reciprocal_rank": rr,
        "facts_found": [],
        "facts_missing": [] if coverage == 1.0 else ["x"],
        "fact_coverage": coverage,
        "sentences": 1,
        "supported_sentences": int(supported),
        "supported": supported,
        "latency_ms": {
            "retrieve": 20.0,
            "generate": generate_ms,
            "total": generate_ms + 20.0,
        },
        "tokens": {"input": tokens[0], "output": tokens[1]},
    }


def report(rows: list[dict[str, Any]], **run: Any) -> dict[str, Any]:
    from evals.harness.report import METHODS, SCHEMA, summarise

    return {
        "schema": SCHEMA,
        "created_at": "2026-01-01T00:00:00+00:00",
        "dataset": {
            "name": "orca-handbook",
            "version": "v1",
            "fingerprint": "f" * 16,
            "documents": 13,
            "questions_total": 30,
        },
        "run": {
            "workflow": "rag",
            "chat_model": "llm-01",
            "chat_provider": "local:SmolLM2-135M-Instruct",
            "embedding_provider": "local:all-MiniLM-L6-v2",
            "top_k": 4,
            "chat_max_tokens": 64,
            "limit": None,
            "collection": "eval-orca-handbook-v1",
            "ingest_s": 1.0,
            "chunks": 13,
            **run,
        },
        **summarise(rows),
        "floors": {},
        "below_floor": [],
        "methods": METHODS,
        "per_question": rows,
    }
