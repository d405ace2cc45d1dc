from pathlib import Path

from graphs.context import Context
from graphs.deps import GraphDeps
from graphs.ingest.graph import build_graph
from nodes.ingest import text_source
from tests.support import CORPUS


async def test_ingesting_a_folder_stores_every_chunk(deps: GraphDeps) -> None:
    result = await build_graph(deps=deps).ainvoke({"paths": [str(CORPUS)]}, context=Context())
    assert sorted(Path(s).name for s in result["sources"]) == [
        "bicycles.txt",
        "falcon.md",
        "kitchen.md",
    ]
    assert result["chunk_count"] >= 3
    assert await deps.knowledge_base.count("documents", "public") == result["chunk_count"]


async def test_reingesting_creates_no_duplicates(deps: GraphDeps) -> None:
    graph = build_graph(deps=deps)
    first = await graph.ainvoke({"paths": [str(CORPUS)]}, context=Context())
    second = await graph.ainvoke({"paths": [str(CORPUS)]}, context=Context())
    assert first["chunk_count"] == second["chunk_count"]
    assert await deps.knowledge_base.count("documents", "public") == first["chunk_count"]


async def test_a_shrunken_file_leaves_no_stale_chunks(deps: GraphDeps, tmp_path: Path) -> None:
    document = tmp_path / "notes.txt"
    document.write_text("\n\n".join(f"Paragraph {i} " + "word " * 30 for i in range(6)))
    graph = build_graph(deps=deps)
    long = await graph.ainvoke({"paths": [str(document)]}, context=Context())
    document.write_text("Only one short paragraph now.")
    short = await graph.ainvoke({"paths": [str(document)]}, context=Context())
    assert long["chunk_count"] > short["chunk_count"] == 1
    assert await deps.knowledge_base.count("documents", "public") == 1


async def test_raw_texts_are_named_by_content(deps: GraphDeps) -> None:
    result = await build_graph(deps=deps).ainvoke(
        {"texts": ["alpha text", "beta text"]}, context=Context(collection="notes")
    )
    assert result["collection"] == "notes"
    assert sorted(result["sources"]) == sorted(
        [text_source("alpha text"), text_source("beta text")]
    )
