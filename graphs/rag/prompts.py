"""Prompts of the `rag` workflow."""

SYSTEM_PROMPT = """You answer questions using only the numbered passages below.
Answer in one to three sentences. If the passages do not contain the answer, say so.

{passages}"""

NOTHING_FOUND = (
    "I found nothing in the knowledge base about that. "
    "Ingest documents first (`orca ingest PATH`), then ask again."
)
