"""`orca ingest docs/ README.md` on a fresh clone, through the real all-MiniLM-L6-v2 (issue 13).

Chunks cut at 800 characters held up to 315 of the model's 256 tokens, so ingesting this
repo's own docs was refused. Here the CLI ingests them into a served app with the real local
embedding model, and every stored chunk is counted again with the model's own tokenizer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client import QdrantClient
from typer.testing import CliRunner

from server.app import create_app
from server.cli import app as cli
from server.embeddings.local_provider import load_minilm
from server.settings import Settings
from tests.support import fake_models, live_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
OWN_DOCS = [p.name for p in (ROOT / "docs").iterdir() if p.suffix in (".md", ".txt", ".rst")]


def stored_texts(qdrant_path: Path, collection: str) -> dict[str, list[str]]:
    """Return the chunk texts stored per source, read from the local Qdrant's folder."""
    client = QdrantClient(path=str(qdrant_path))
    try:
        points, _ = client.scroll(collection, limit=10_000, with_payload=True)
    finally:
        client.close()
    texts: dict[str, list[str]] = {}
    for point in points:
        assert point.payload is not None
        texts.setdefault(Path(point.payload["source"]).name, []).append(point.payload["text"])
    return texts


def test_the_repos_own_docs_ingest_and_every_chunk_fits_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    monkeypatch.chdir(ROOT)  # as the README has it: from the clone's root
    # Only the embedding model is real: the chat models are not used by ingest.
    with live_server(create_app(settings, models=fake_models())) as url:
        ingested = CliRunner().invoke(cli, ["ingest", "docs/", "README.md", "--server", url])
    assert ingested.exit_code == 0, ingested.output

    # The server is stopped, so the local Qdrant's folder is free to open here.
    stored = stored_texts(settings.qdrant_path, settings.collection)
    assert sorted(stored) == sorted([*OWN_DOCS, "README.md"])
    texts = [text for chunks in stored.values() for text in chunks]
    model = load_minilm()
    counts = [
        len(ids)
        for ids in model.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    ]
    assert max(counts) <= model.max_seq_length == 256
    assert max(counts) > 200, "chunks should use the budget, not be needlessly small"
