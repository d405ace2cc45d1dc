import pytest

from evals.harness import scorers


def test_ranked_documents_maps_chunks_to_files_keeping_the_first_rank() -> None:
    sources = ["/c/a.md", "/c/b.md", "/c/a.md", "text:abc", "/c/c.md"]
    assert scorers.ranked_documents(sources) == ["a.md", "b.md", "text:abc", "c.md"]


@pytest.mark.parametrize(
    ("retrieved", "relevant", "recall", "rr"),
    [
        (["a.md", "b.md", "c.md"], ["a.md"], 1.0, 1.0),
        (["a.md", "b.md", "c.md"], ["c.md"], 1.0, 1 / 3),
        (["a.md", "b.md"], ["b.md", "z.md"], 0.5, 0.5),
        (["a.md", "b.md"], ["z.md"], 0.0, 0.0),
        ([], ["a.md"], 0.0, 0.0),
    ],
)
def test_recall_and_reciprocal_rank(
    retrieved: list[str], relevant: list[str], recall: float, rr: float
) -> None:
    assert scorers.recall_at_k(retrieved, relevant) == recall
    assert scorers.reciprocal_rank(retrieved, relevant) == rr


def test_normalise_ignores_case_punctuation_and_spacing() -> None:
    assert scorers.normalise("  4.2 Million,\n euros! ") == " 4 2 million euros "


@pytest.mark.parametrize(
    ("fact", "answer", "found"),
    [
        ("Amara Okafor", "Project Heron is led by amara  OKAFOR.", True),
        ("380,000", "The budget is 380,000 euros.", True),
        ("380,000", "The budget is 380000 euros.", False),
        ("11", "A crew of 110 engineers.", False),
        ("16:00", "It is cleared on Fridays at 16:00.", True),
        ("8 and 9 November", "the weekend of 8 and 9 November", True),
        ("", "anything", False),
    ],
)
def test_fact_found(fact: str, answer: str, found: bool) -> None:
    assert scorers.fact_found(fact, answer) is found


def test_fact_coverage_is_the_share_of_facts_found() -> None:
    answer = "The fridge is cleared on Friday."
    assert scorers.fact_coverage(answer, ["Friday", "16:00"]) == 0.5
    assert scorers.fact_coverage(answer, ["friday"]) == 1.0
    assert scorers.fact_coverage(answer, []) == 1.0


def test_content_words_drop_stop_words_and_single_letters_but_keep_digits() -> None:
    assert scorers.content_words("According to the passages, Heron's budget is 4 million.") == [
        "heron",
        "budget",
        "4",
        "million",
    ]


def test_sentences_split_at_ends_and_newlines_without_citations() -> None:
    text = "Heron costs 4.2 million [1]. Who knows?\nIt ends in May [1, 2]!"
    assert scorers.sentences(text) == ["Heron costs 4.2 million.", "Who knows?", "It ends in May!"]


def test_claim_support_counts_sentences_backed_by_the_passages() -> None:
    passages = ["Project Heron is led by Amara Okafor.", "The budget is 380,000 euros."]
    support = scorers.claim_support(
        "Amara Okafor leads Project Heron. The budget is 9 billion dollars.", passages
    )
    # sentence 1: amara okafor leads project heron -> 4 of 5 known (0.8 >= 0.6)
    # sentence 2: budget 9 billion dollars -> 1 of 4 known (0.25 < 0.6)
    assert (support.sentences, support.supported) == (2, 1)
    assert support.answer_supported is False
    assert scorers.claim_support("Amara Okafor leads Project Heron.", passages).answer_supported


def test_an_answer_without_claims_is_not_supported() -> None:
    support = scorers.claim_support("It is what it is.", ["anything at all"])
    assert (support.sentences, support.supported) == (0, 0)
    assert support.answer_supported is False


def test_support_threshold_is_inclusive() -> None:
    passages = ["alpha beta gamma"]
    # 3 of 5 content words known: exactly 0.6
    assert scorers.claim_support("alpha beta gamma delta epsilon.", passages).supported == 1
    assert scorers.claim_support("alpha beta gamma delta epsilon.", passages, 0.61).supported == 0


def test_percentile_interpolates_linearly_like_numpy() -> None:
    values = [10.0, 40.0, 20.0, 30.0]
    assert scorers.percentile(values, 50) == 25.0
    assert scorers.percentile(values, 95) == pytest.approx(38.5)
    assert scorers.percentile(values, 0) == 10.0
    assert scorers.percentile(values, 100) == 40.0
    assert scorers.percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        scorers.percentile([], 50)


def test_mean() -> None:
    assert scorers.mean([1.0, 0.0, 0.5]) == 0.5
    assert scorers.mean([]) == 0.0


def test_a_fact_may_list_interchangeable_forms() -> None:
    assert scorers.fact_found("twelve|12", "It seats 12 people.")
    assert scorers.fact_found("twelve|12", "It seats twelve people.")
    assert scorers.fact_found("Tuesday|Tuesdays", "Releases go out on Tuesdays.")
    assert not scorers.fact_found("twelve|12", "It seats 120 people.")
    assert not scorers.fact_found("|", "anything")


def test_every_number_of_a_sentence_must_be_in_the_passages() -> None:
    passages = ["The incident review meeting is held every Thursday at 14:00."]
    assert scorers.claim_support("The meeting is every Thursday at 14:00.", passages).supported == 1
    # 3 of 4 content words known (meeting, thursday, 14; 0.75), but "05" is invented
    assert scorers.claim_support("The meeting is every Thursday at 14:05.", passages).supported == 0
