"""Cut documents into chunks the embedding model takes whole, measured in its own tokens.

Chunks used to be cut at 800 characters while all-MiniLM-L6-v2 reads 256 tokens, and this
project's own docs held 800-character chunks of 273 tokens: the model refused them and
nothing was ingested (issue 13). A `ChunkBudget` says how a text is measured (the model's
tokenizer, or characters when the model's tokenizer is unknown) and how much a chunk may
hold; `Chunker` splits with langchain-text-splitters (by markdown structure for markdown)
under that measure, then checks every chunk, so none leaves over the budget.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

MARKDOWN_SUFFIXES = (".md", ".markdown")


@dataclass(frozen=True, kw_only=True)
class ChunkBudget:
    """How long a chunk may be, and how a text's length is measured."""

    size: int
    """Most units in one chunk: what the model reads, less its special tokens."""
    overlap: int
    """Units neighbouring chunks share."""
    length: Callable[[str], int] = len
    """A text's length in units: its tokens (special tokens not counted), or characters."""
    unit: str = "characters"
    """What `length` counts, for messages: e.g. `all-MiniLM-L6-v2 tokens`."""

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.size:
            raise ValueError(f"chunk overlap {self.overlap} must be below the size {self.size}")


class Chunker:
    """Split documents into chunks within a budget, markdown along its headings and blocks."""

    def __init__(self, budget: ChunkBudget) -> None:
        self.budget = budget

    def split(self, text: str, *, markdown: bool) -> list[str]:
        """Return the non-blank chunks of `text`, each within the budget."""
        # The splitter measures most parts twice (once to decide whether to cut it further,
        # once to merge it); remembering the counts for one call took the docs/ split from
        # 131 to 76 ms, and the memo goes away with the call.
        length = functools.cache(self.budget.length)
        options: dict[str, Any] = {
            "chunk_size": self.budget.size,
            "chunk_overlap": self.budget.overlap,
            "length_function": length,
        }
        splitter = (
            RecursiveCharacterTextSplitter.from_language(Language.MARKDOWN, **options)
            if markdown
            else RecursiveCharacterTextSplitter(**options)
        )
        chunks: list[str] = []
        for piece in splitter.split_text(text):
            if piece.strip():
                chunks.extend(self._fit(piece, length))
        return chunks

    def split_source(self, source: str, text: str) -> list[str]:
        """Return the chunks of a document, split as markdown when its name says it is."""
        return self.split(text, markdown=source.lower().endswith(MARKDOWN_SUFFIXES))

    def _fit(self, piece: str, length: Callable[[str], int]) -> list[str]:
        """Return `piece`, or its parts when it measures over the budget.

        The splitter adds up its parts' lengths, which is exact for characters and for a
        tokenizer that splits at whitespace, but a merge of parts cut inside a word can
        tokenize longer than its parts. Such a piece is cut again at the longest prefix that
        fits, found by bisection, backed off to a space when there is one.
        """
        size = self.budget.size
        parts: list[str] = []
        rest = piece
        while length(rest) > size:
            low, high = 1, len(rest)  # a prefix of `low` characters fits; `high` does not
            while high - low > 1:
                middle = (low + high) // 2
                if length(rest[:middle]) <= size:
                    low = middle
                else:
                    high = middle
            space = rest.rfind(" ", 0, low)
            cut = space if space > 0 and length(rest[:space]) <= size else low
            head, rest = rest[:cut].strip(), rest[cut:].strip()
            if head:
                parts.append(head)
        if rest:
            parts.append(rest)
        return parts
