"""The runner over the server's real app and graphs, with fake models (fast)."""

from pathlib import Path

import pytest

from evals.harness.dataset import load_dataset
from evals.harness.runner import EvalError, EvalOptions, run_eval
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.unit.evals.fakes import ANSWER, fake_chat


@pytest.mark.parametrize("workflow", ["rag", "rag-chat", "agent"])
async def test_each_question_gets_an_answer_sources_stage_times_and_tokens(
    workflow: str, tmp_path: Path
) -> None:
    answered = []
    run = await run_eval(
        Settings(data_dir=tmp_path),
        load_dataset(),
        EvalOptions(workflow=workflow, top_k=3, limit=2),
        on_answered=answered.append,
        models=fake_chat,
        embedder=fake_embedder(),
    )
    assert run.chunk_count == len(run.dataset.documents)  # each document is one chunk
    assert run.top_k == 3
    assert run.collection == "eval-orca-handbook-v1"
    assert [record.question.id for record in run.records] == ["q01", "q02"]
    assert answered == run.records
    first = run.records[0]
    assert first.answer == ANSWER
    assert len(first.sources) == 3
    assert first.sources[0]["source"].endswith(".md")
    assert (first.input_tokens, first.output_tokens) == (120, 8)
    assert (
        first.stages_ms["total"]
        >= sum(ms for stage, ms in first.stages_ms.items() if stage != "total") * 0.99
    )
    expected = {"rag": {"retrieve", "generate"}, "rag-chat": {"retrieve", "generate"}}
    assert expected.get(workflow, {"agent"}) <= set(first.stages_ms)


async def test_a_second_run_starts_from_a_fresh_collection(tmp_path: Path) -> None:
    for _ in range(2):
        run = await run_eval(
            Settings(data_dir=tmp_path),
            load_dataset(),
            EvalOptions(limit=1),
            models=fake_chat,
            embedder=fake_embedder(),
        )
        assert run.chunk_count == len(run.dataset.documents)  # each document is one chunk


async def test_unknown_workflows_and_models_are_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(EvalError, match="unknown workflow 'ingest'"):
        await run_eval(settings, load_dataset(), EvalOptions(workflow="ingest"), models=fake_chat)
    with pytest.raises(EvalError, match=r"unknown chat model 'llm-09'.*llm-01"):
        await run_eval(
            settings,
            load_dataset(),
            EvalOptions(chat_model="llm-09"),
            models=fake_chat,
            embedder=fake_embedder(),
        )
