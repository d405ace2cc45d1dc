"""Scores of one answer, as pure functions of the answer, its sources and the labels.

Retrieval is judged per document: the dataset labels corpus files, while the workflow
returns chunks, so retrieved chunks are mapped to their file names and deduplicated,
keeping each file's first rank. `k` is the number of chunks the run retrieved (`top_k`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

SUPPORT_THRESHOLD = 0.6
"""Share of a sentence's content words that must occur in the sources for it to count."""

# A small English stop-word list: the words that carry no claim of their own, plus the
# words answers use to point at their sources ("according to the passages"). Kept here,
# not taken from a library, so the method is fixed with the code and needs no download.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    either every few for from further had has have having he her here hers herself him
    himself his how i if in into is it its itself just may me might more most must my
    myself need no nor not now of off on once only or other our ours ourselves out over
    own per same shall she should so some such than that the their theirs them themselves
    then there these they this those through to too under until up upon us very was we
    were what when where which while who whom whose why will with within would yes you
    your yours yourself yourselves according answer based passage passages""".split()
)
WORD = re.compile(r"[a-z0-9]+")
CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def document_name(source: str) -> str:
    """Return the file name of a retrieved chunk's source (`/x/corpus/a.md` → `a.md`)."""
    return PurePath(source).name


def ranked_documents(sources: Iterable[str]) -> list[str]:
    """Map chunk sources, best first, to distinct file names in first-seen order."""
    return list(dict.fromkeys(document_name(source) for source in sources))


def recall_at_k(retrieved: Sequence[str], relevant: Iterable[str]) -> float:
    """Return the share of the relevant documents found among the retrieved ones.

    Args:
        retrieved: file names of the top-k chunks, deduplicated (`ranked_documents`).
        relevant: the labelled file names.
    """
    wanted = set(relevant)
    if not wanted:
        return 1.0
    return len(wanted.intersection(retrieved)) / len(wanted)


def reciprocal_rank(retrieved: Sequence[str], relevant: Iterable[str]) -> float:
    """Return 1/rank of the first relevant document (rank from 1), or 0 when none is."""
    wanted = set(relevant)
    for rank, name in enumerate(retrieved, start=1):
        if name in wanted:
            return 1.0 / rank
    return 0.0


def normalise(text: str) -> str:
    """Lower-case, fold Unicode (NFKC), and keep letters and digits as space-padded words.

    `"4.2 Million"` and `"4.2 million."` both become `" 4 2 million "`, so punctuation,
    case and spacing never decide a match, and the padding keeps `"11"` out of `"110"`.
    """
    words = WORD.findall(unicodedata.normalize("NFKC", text).lower())
    return " " + " ".join(words) + " "


def fact_found(fact: str, answer: str) -> bool:
    """Tell whether the answer states the fact: its normalised words appear, in order.

    A fact may list interchangeable forms separated by `|` (`"twelve|12"`,
    `"Tuesday|Tuesdays"`); any one of them counts.
    """
    said = normalise(answer)
    forms = [normalise(form) for form in fact.split("|")]
    return any(form.strip() and form in said for form in forms)


def fact_coverage(answer: str, facts: Sequence[str]) -> float:
    """Return the share of expected facts the answer contains (see `fact_found`)."""
    if not facts:
        return 1.0
    return sum(fact_found(fact, answer) for fact in facts) / len(facts)


def content_words(text: str) -> list[str]:
    """Return the words that carry a claim: normalised words minus stop words.

    Single letters are dropped (the `s` of "Heron's"); single digits are kept.
    """
    return [
        word
        for word in normalise(text).split()
        if word not in STOP_WORDS and (len(word) > 1 or word.isdigit())
    ]


def sentences(text: str) -> list[str]:
    """Split an answer into sentences at `.`, `!` or `?` followed by space, and at newlines.

    Citation markers such as `[1]` are removed first: they point at sources, they claim
    nothing.
    """
    cleaned = CITATION.sub("", text)
    return [part.strip() for part in SENTENCE_END.split(cleaned) if part.strip()]


@dataclass(frozen=True)
class Support:
    """How much of one answer the retrieved passages back up."""

    sentences: int
    """Sentences with at least one content word (the claims that were checked)."""
    supported: int
    """Those whose content words occur in the passages at `SUPPORT_THRESHOLD` or more."""

    @property
    def answer_supported(self) -> bool:
        """Return whether every claim is supported; an answer with no claim is not."""
        return self.sentences > 0 and self.supported == self.sentences


def claim_support(
    answer: str, passages: Sequence[str], threshold: float = SUPPORT_THRESHOLD
) -> Support:
    """Check each sentence of the answer against the retrieved passages.

    The method, deliberately simple and lexical: split the answer into sentences
    (`sentences`); take each sentence's content words (`content_words`); the sentence is
    supported when at least `threshold` of them occur anywhere in the passages' content
    words and every number in it does. Numbers are held to all-or-nothing because a
    changed number is the small model's usual invention (in the local baseline: 09:35 for
    09:00, 14:05 for 14:00, 2 minutes for 15) and is one word among many. It catches
    invented names, numbers and places; it does not catch a claim that recombines words
    from the passages into something they do not say.
    """
    vocabulary = {word for passage in passages for word in content_words(passage)}
    checked = supported = 0
    for sentence in sentences(answer):
        words = content_words(sentence)
        if not words:
            continue
        checked += 1
        known = [word in vocabulary for word in words]
        numbers_known = all(ok for word, ok in zip(words, known, strict=True) if word.isdigit())
        if numbers_known and sum(known) / len(words) >= threshold:
            supported += 1
    return Support(sentences=checked, supported=supported)


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100), interpolating linearly between ranks.

    The same definition as NumPy's default (`method="linear"`).

    Raises:
        ValueError: for no values or q outside 0-100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Sequence[float]) -> float:
    """Return the arithmetic mean, 0.0 for no values."""
    return sum(values) / len(values) if values else 0.0
