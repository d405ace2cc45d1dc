from dataclasses import replace
from pathlib import Path

import pytest

from graphs.context import Context
from graphs.deps import GraphDeps
from graphs.ingest.graph import build_graph
from graphs.ingest.nodes import text_source
from tests.support import CORPUS, sent_files
from tools.files import PathRefused


async def test_ingesting_sent_files_stores_every_chunk(deps: GraphDeps) -> None:
    result = await build_graph(deps=deps).ainvoke({"files": sent_files(CORPUS)}, context=Context())
    assert sorted(Path(s).name for s in result["sources"]) == [
        "bicycles.txt",
        "falcon.md",
        "kitchen.md",
    ]
    assert result["chunk_count"] >= 3
    assert await deps.knowledge_base.count("documents", "public") == result["chunk_count"]


async def test_reingesting_creates_no_duplicates(deps: GraphDeps) -> None:
    graph = build_graph(deps=deps)
    first = await graph.ainvoke({"files": sent_files(CORPUS)}, context=Context())
    second = await graph.ainvoke({"files": sent_files(CORPUS)}, context=Context())
    assert first["chunk_count"] == second["chunk_count"]
    assert await deps.knowledge_base.count("documents", "public") == first["chunk_count"]


async def test_a_shrunken_file_leaves_no_stale_chunks(deps: GraphDeps) -> None:
    graph = build_graph(deps=deps)
    long_text = "\n\n".join(f"Paragraph {i} " + "word " * 30 for i in range(6))
    long = await graph.ainvoke(
        {"files": [{"source": "notes.txt", "text": long_text}]}, context=Context()
    )
    short = await graph.ainvoke(
        {"files": [{"source": "notes.txt", "text": "Only one short paragraph now."}]},
        context=Context(),
    )
    assert long["chunk_count"] > short["chunk_count"] == 1
    assert await deps.knowledge_base.count("documents", "public") == 1


async def test_server_paths_are_read_only_for_admin_runs_inside_the_roots(
    deps: GraphDeps, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "notes.md").write_text("Falcon notes.")
    graph = build_graph(deps=replace(deps, ingest_roots=(root,)))
    admin = Context(server_files=True)
    # The check is where files are read: no surface, and no state update, goes around it.
    with pytest.raises(PathRefused, match="admin scope"):
        await graph.ainvoke({"paths": [str(root)]}, context=Context())
    with pytest.raises(PathRefused, match="outside the folders"):
        await graph.ainvoke({"paths": ["/etc/hostname"]}, context=admin)
    result = await graph.ainvoke({"paths": [str(root)]}, context=admin)
    assert result["sources"] == [str(root / "notes.md")]
    unrooted = build_graph(deps=deps)
    with pytest.raises(PathRefused, match="ORCA_INGEST_ROOTS is empty"):
        await unrooted.ainvoke({"paths": [str(root)]}, context=admin)


async def test_raw_texts_are_named_by_content(deps: GraphDeps) -> None:
    result = await build_graph(deps=deps).ainvoke(
        {"texts": ["alpha text", "beta text"]}, context=Context(collection="notes")
    )
    assert result["collection"] == "notes"
    assert sorted(result["sources"]) == sorted(
        [text_source("alpha text"), text_source("beta text")]
    )
