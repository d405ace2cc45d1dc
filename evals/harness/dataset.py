"""Versioned evaluation datasets: a corpus of documents and labelled questions.

A dataset lives in `evals/datasets/<name>/<version>/` and holds `corpus/` (the documents
to ingest) and `questions.jsonl`, one question a line:

    {"id": "q01", "question": "...", "passages": ["doc.md"], "facts": ["..."]}

`passages` names the corpus files that answer the question; `facts` are short strings a
correct answer contains. A published version never changes: edits go into a new version.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tools.files import TEXT_SUFFIXES

DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"
DEFAULT_DATASET = "orca-handbook"
VERSION_PATTERN = re.compile(r"^v(\d+)$")


class DatasetError(ValueError):
    """The dataset cannot be found or is malformed; the message says where."""


@dataclass(frozen=True)
class Question:
    """One labelled question."""

    id: str
    question: str
    passages: tuple[str, ...]
    """Corpus file names (not paths) of the passages that answer it."""
    facts: tuple[str, ...]
    """Short strings a correct answer contains."""


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset version."""

    name: str
    version: str
    root: Path
    questions: tuple[Question, ...]
    documents: tuple[str, ...]
    """The corpus file names, sorted."""
    fingerprint: str
    """SHA-256 prefix over the questions and every corpus file: changes when any does."""

    @property
    def corpus_dir(self) -> Path:
        """Return the folder ingested before the questions are asked."""
        return self.root / "corpus"

    @property
    def label(self) -> str:
        """Return `name@version`."""
        return f"{self.name}@{self.version}"


def resolve_dataset(spec: str) -> Path:
    """Find a dataset version folder.

    Args:
        spec: a folder holding `questions.jsonl`, or a shipped dataset as `name` (its
            newest version), `name@v1` or `name/v1`.

    Raises:
        DatasetError: when nothing matches.
    """
    path = Path(spec).expanduser()
    if (path / "questions.jsonl").is_file():
        return path.resolve()
    name, _, version = spec.replace("@", "/").partition("/")
    folder = DATASETS_DIR / name
    if not folder.is_dir():
        shipped = sorted(p.name for p in DATASETS_DIR.iterdir() if p.is_dir())
        raise DatasetError(
            f"no dataset {spec!r}: give a folder with questions.jsonl or one of {shipped}"
        )
    if not version:
        versions = [p for p in folder.iterdir() if p.is_dir() and VERSION_PATTERN.match(p.name)]
        if not versions:
            raise DatasetError(f"dataset {name!r} has no version folders (v1, v2, ...)")
        return max(versions, key=_version_number).resolve()
    if not (folder / version / "questions.jsonl").is_file():
        raise DatasetError(f"dataset {name!r} has no version {version!r}")
    return (folder / version).resolve()


def _version_number(folder: Path) -> int:
    """Order `v2` before `v10`."""
    match = VERSION_PATTERN.match(folder.name)
    return int(match[1]) if match else -1


def load_dataset(spec: str = DEFAULT_DATASET) -> Dataset:
    """Load and check a dataset version (see `resolve_dataset` for `spec`).

    Raises:
        DatasetError: naming the file and line of the first problem.
    """
    root = resolve_dataset(spec)
    corpus = root / "corpus"
    if not corpus.is_dir():
        raise DatasetError(f"{root} has no corpus/ folder")
    files = sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix in TEXT_SUFFIXES)
    if not files:
        raise DatasetError(f"{corpus} holds no .md, .txt or .rst documents")
    documents = tuple(p.name for p in files)
    questions_file = root / "questions.jsonl"
    questions = parse_questions(questions_file.read_text(encoding="utf-8"), set(documents))
    digest = hashlib.sha256(questions_file.read_bytes())
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    versioned = VERSION_PATTERN.match(root.name) is not None
    return Dataset(
        name=root.parent.name if versioned else root.name,
        version=root.name if versioned else "unversioned",
        root=root,
        questions=tuple(questions),
        documents=documents,
        fingerprint=digest.hexdigest()[:16],
    )


def parse_questions(text: str, documents: set[str]) -> list[Question]:
    """Parse `questions.jsonl` text, checking every label against the corpus.

    Raises:
        DatasetError: for a bad line, a duplicate id, an unknown passage or no facts.
    """
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"questions.jsonl line {number}"
        try:
            row = json.loads(line)
            question = Question(
                id=str(row["id"]),
                question=str(row["question"]),
                passages=tuple(str(p) for p in row["passages"]),
                facts=tuple(str(f) for f in row["facts"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{where}: not a question object ({exc})") from None
        if question.id in seen:
            raise DatasetError(f"{where}: duplicate id {question.id!r}")
        unknown = [p for p in question.passages if p not in documents]
        if unknown or not question.passages:
            raise DatasetError(f"{where}: passages {unknown or '[]'} are not corpus files")
        if not question.facts or not question.question.strip():
            raise DatasetError(f"{where}: a question needs text and at least one fact")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise DatasetError("questions.jsonl holds no questions")
    return questions
