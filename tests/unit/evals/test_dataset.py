from pathlib import Path

import pytest

from evals.harness.dataset import (
    DATASETS_DIR,
    DEFAULT_DATASET,
    DatasetError,
    load_dataset,
    parse_questions,
    resolve_dataset,
)
from evals.harness.scorers import fact_found


def test_the_shipped_dataset_loads_with_its_newest_version() -> None:
    dataset = load_dataset()
    assert (dataset.name, dataset.version) == (DEFAULT_DATASET, "v1")
    assert 25 <= len(dataset.questions) <= 30
    assert 10 <= len(dataset.documents) <= 14
    assert len(dataset.fingerprint) == 16


def test_every_expected_fact_is_in_a_labelled_passage() -> None:
    dataset = load_dataset()
    for question in dataset.questions:
        text = " ".join(
            (dataset.corpus_dir / name).read_text(encoding="utf-8") for name in question.passages
        )
        missing = [fact for fact in question.facts if not fact_found(fact, text)]
        assert not missing, f"{question.id}: {missing} not in {question.passages}"


def test_every_document_answers_some_question() -> None:
    dataset = load_dataset()
    labelled = {name for question in dataset.questions for name in question.passages}
    assert labelled == set(dataset.documents)


def test_a_prefix_of_the_questions_spreads_over_the_corpus() -> None:
    # `--limit 12` (the integration test) should still touch 12 different documents.
    first = load_dataset().questions[:12]
    assert len({question.passages[0] for question in first}) == 12


@pytest.mark.parametrize("spec", ["orca-handbook", "orca-handbook@v1", "orca-handbook/v1"])
def test_a_shipped_dataset_is_named_with_or_without_its_version(spec: str) -> None:
    assert resolve_dataset(spec) == DATASETS_DIR / "orca-handbook" / "v1"


def test_a_folder_is_a_dataset_too(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.md").write_text("Alpha is red.\n")
    (tmp_path / "questions.jsonl").write_text(
        '{"id": "1", "question": "Alpha?", "passages": ["a.md"], "facts": ["red"]}\n'
    )
    dataset = load_dataset(str(tmp_path))
    assert (dataset.name, dataset.version) == (tmp_path.name, "unversioned")
    assert dataset.documents == ("a.md",)


def test_unknown_datasets_and_versions_are_named() -> None:
    with pytest.raises(DatasetError, match="no dataset 'nope'.*orca-handbook"):
        resolve_dataset("nope")
    with pytest.raises(DatasetError, match="no version 'v9'"):
        resolve_dataset("orca-handbook@v9")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "line 1: not a question object"),
        ('{"id": "1", "question": "q?"}', "line 1: not a question object"),
        ('{"id": "1", "question": "q?", "passages": ["z.md"], "facts": ["x"]}', "z.md"),
        ('{"id": "1", "question": "q?", "passages": ["a.md"], "facts": []}', "at least one fact"),
    ],
)
def test_bad_question_lines_are_refused_with_their_line(line: str, problem: str) -> None:
    with pytest.raises(DatasetError, match=problem):
        parse_questions(line, {"a.md"})


def test_duplicate_ids_are_refused() -> None:
    line = '{"id": "1", "question": "q?", "passages": ["a.md"], "facts": ["x"]}'
    with pytest.raises(DatasetError, match="line 3: duplicate id '1'"):
        parse_questions(f"{line}\n\n{line}\n", {"a.md"})
