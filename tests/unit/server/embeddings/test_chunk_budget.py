import logging

import pytest

from server.embeddings.chunk_budget import chunk_budget
from server.settings import Settings


def test_local_chunks_are_counted_in_minilm_tokens_within_its_256() -> None:
    budget = chunk_budget(Settings())
    assert budget.unit == "all-MiniLM-L6-v2 tokens"
    assert budget.size == 256 - 2  # [CLS] and [SEP] are the model's, not the chunk's
    assert budget.overlap == 32
    assert budget.length("Project Falcon was led by Ingrid Solberg.") == 9  # ...sol ##berg .
    assert budget.length("word " * 500) == 500  # the tokenizer file's 128-token cut is off


def test_a_lower_input_limit_or_chunk_size_makes_local_chunks_smaller() -> None:
    assert chunk_budget(Settings(embedding_max_input_tokens=128)).size == 126
    assert chunk_budget(Settings(chunk_size=100, chunk_overlap=10)).size == 98


def test_a_chunk_size_over_the_models_limit_is_lowered_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="orca"):
        budget = chunk_budget(Settings(chunk_size=800, chunk_overlap=300))
    assert budget.size == 254
    assert budget.overlap == 127  # half the chunk at most
    assert "ORCA_CHUNK_SIZE=800 is more than the 256 tokens all-MiniLM-L6-v2 reads" in caplog.text


def test_a_remote_model_is_measured_in_characters_at_the_configured_ratio() -> None:
    budget = chunk_budget(Settings(embedding_provider="ollama", chunk_chars_per_token=2.5))
    assert budget.length("four") == 4
    assert budget.size == int((256 - 2) * 2.5)
    assert budget.overlap == int(32 * 2.5)


def test_a_remote_models_token_limit_caps_its_chunks() -> None:
    budget = chunk_budget(
        Settings(
            embedding_provider="openai",
            embedding_url="http://127.0.0.1:9/v1",
            embedding_max_input_tokens=128,
        )
    )
    assert budget.size == (128 - 2) * 2
