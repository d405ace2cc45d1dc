import pytest

from graphs.ingest.chunking import ChunkBudget, Chunker


def words(text: str) -> int:
    return len(text.split())


def sticky(text: str) -> int:
    """Characters, plus 5 for every `xy`: parts cut inside a word measure less than their join."""
    return len(text) + 5 * text.count("xy")


def test_every_chunk_fits_the_budget_in_the_counters_units() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "word " * (7 + i % 11) for i in range(40))
    chunks = Chunker(ChunkBudget(size=30, overlap=5, length=words, unit="words")).split(
        text, markdown=False
    )
    assert len(chunks) > 5
    assert max(words(chunk) for chunk in chunks) <= 30
    assert "Paragraph 39." in chunks[-1]


def test_neighbouring_chunks_share_the_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    chunks = Chunker(ChunkBudget(size=20, overlap=5, length=words)).split(text, markdown=False)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.split()[-5:] == after.split()[:5]


def test_markdown_is_cut_at_its_headings() -> None:
    sections = [f"## Section {i}\n\n" + "text " * 12 for i in range(4)]
    chunks = Chunker(ChunkBudget(size=20, overlap=0, length=words)).split_source(
        "guide.md", "# Guide\n\n" + "\n".join(sections)
    )
    # One section a chunk, whole (the title rides along with the first).
    assert [chunk[chunk.index("## Section") :] for chunk in chunks] == [
        section.strip() for section in sections
    ]


def test_a_merge_that_measures_more_than_its_parts_is_cut_again() -> None:
    text = "xy" * 40  # one word: split to characters, merged back to 20-character runs
    chunks = Chunker(ChunkBudget(size=20, overlap=0, length=sticky)).split(text, markdown=False)
    assert max(sticky(chunk) for chunk in chunks) <= 20
    assert "".join(chunks) == text


def test_blank_documents_give_no_chunks() -> None:
    assert Chunker(ChunkBudget(size=20, overlap=0)).split(" \n\n \n", markdown=True) == []


def test_an_overlap_as_big_as_the_chunk_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        ChunkBudget(size=20, overlap=20)
