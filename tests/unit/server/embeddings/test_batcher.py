"""Single-flight, micro-batching and back-pressure, against a provider that counts calls."""

import asyncio

import pytest

from server.embeddings.batcher import FailedInput, MicroBatcher
from server.embeddings.cache import cache_key
from server.embeddings.errors import ApiError, InputsRefused
from tests.doubles.embedder import CountingEmbedder


def items(*texts: str) -> dict[bytes, str]:
    return {cache_key("test", text): text for text in texts}


def batcher(embedder: CountingEmbedder, **limits: float) -> MicroBatcher:
    options: dict = {"max_batch": 64, "max_concurrency": 4, "queue_timeout_s": 30.0} | limits
    return MicroBatcher(embedder, on_computed=lambda results: None, **options)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_identical_requests_make_one_provider_call() -> None:
    embedder = CountingEmbedder()
    embedder.gate = asyncio.Event()
    subject = batcher(embedder)
    callers = [asyncio.create_task(subject.run(items("same text"))) for _ in range(20)]
    await settle()
    embedder.gate.set()
    results = await asyncio.gather(*callers)
    assert embedder.batches == [["same text"]]
    vectors = [next(iter(result.values())).vector for result in results]
    assert all((vector == vectors[0]).all() for vector in vectors)


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    embedder = CountingEmbedder()
    embedder.gate = asyncio.Event()
    subject = batcher(embedder)
    leaving = asyncio.create_task(subject.run(items("shared")))
    staying = asyncio.create_task(subject.run(items("shared")))
    await settle()
    leaving.cancel()
    await settle()
    embedder.gate.set()
    result = await staying
    assert leaving.cancelled()
    assert list(result.values())[0].tokens == 3
    assert embedder.batches == [["shared"]]


async def test_misses_of_concurrent_requests_leave_together_while_the_provider_is_busy() -> None:
    embedder = CountingEmbedder()
    embedder.gate = asyncio.Event()
    subject = batcher(embedder, max_concurrency=1)
    first = asyncio.create_task(subject.run(items("first")))
    await settle()
    others = [asyncio.create_task(subject.run(items(f"text {i}"))) for i in range(10)]
    await settle()
    assert subject.queued == 10
    embedder.gate.set()
    await asyncio.gather(first, *others)
    assert embedder.batches[0] == ["first"]
    assert sorted(embedder.batches[1]) == sorted(f"text {i}" for i in range(10))
    assert len(embedder.batches) == 2


async def test_while_a_call_runs_a_small_batch_waits_to_fill_or_for_the_call_to_end() -> None:
    embedder = CountingEmbedder()
    embedder.min_busy_batch = 3
    embedder.gate = asyncio.Event()
    subject = batcher(embedder, max_concurrency=3)
    first = asyncio.create_task(subject.run(items("first")))
    await settle()
    lone = asyncio.create_task(subject.run(items("lone")))
    await settle()
    assert embedder.batches == [["first"]]  # a free slot, but one text: it waits
    pair = [asyncio.create_task(subject.run(items(f"text {i}"))) for i in range(2)]
    await settle()
    assert sorted(embedder.batches[1]) == ["lone", "text 0", "text 1"]  # filled: it left
    late = asyncio.create_task(subject.run(items("late")))
    await settle()
    assert len(embedder.batches) == 2  # a slot is free, but calls run: it waits
    embedder.gate.set()
    await asyncio.gather(first, lone, *pair, late)
    assert embedder.batches[2] == ["late"]  # the calls ended: it left as it was


async def test_a_large_request_is_split_into_provider_sized_batches_with_bounded_concurrency() -> (
    None
):
    embedder = CountingEmbedder()
    subject = batcher(embedder, max_batch=8, max_concurrency=2)
    texts = [f"text number {i}" for i in range(50)]
    result = await subject.run(items(*texts))
    assert len(result) == 50
    assert [len(batch) for batch in embedder.batches] == [8, 8, 8, 8, 8, 8, 2]
    assert sorted(embedder.texts) == sorted(texts)
    assert embedder.most_running <= 2


async def test_requests_waiting_take_turns_so_a_small_one_is_not_stuck_behind_a_large_one() -> None:
    embedder = CountingEmbedder()
    embedder.gate = asyncio.Event()
    subject = batcher(embedder, max_batch=8, max_concurrency=1)
    large = asyncio.create_task(subject.run(items(*(f"long text {i}" for i in range(50)))))
    await settle()
    small = asyncio.create_task(subject.run(items("a question", "another")))
    other = asyncio.create_task(subject.run(items("a third caller")))
    await settle()
    embedder.gate.set()
    await asyncio.gather(large, small, other)
    assert len(embedder.batches[0]) == 8  # the large one's, alone when it came
    second = embedder.batches[1]
    assert len(second) == 8 and {"a question", "another", "a third caller"} <= set(second)
    assert sum(len(batch) for batch in embedder.batches) == 53


async def test_a_full_queue_refuses_at_once_with_retry_after() -> None:
    embedder = CountingEmbedder()
    embedder.gate = asyncio.Event()
    subject = batcher(embedder, max_concurrency=1, max_queue=4)
    running = asyncio.create_task(subject.run(items("running")))
    await settle()
    queued = asyncio.create_task(subject.run(items("a", "b", "c", "d")))
    await settle()
    with pytest.raises(ApiError) as refused:
        await subject.run(items("one too many"))
    assert refused.value.status == 503
    assert refused.value.code == "server_overloaded"
    assert refused.value.headers()["Retry-After"] == "1"
    embedder.gate.set()
    await asyncio.gather(running, queued)


async def test_a_request_that_waits_too_long_gets_503_instead_of_hanging() -> None:
    embedder = CountingEmbedder()
    embedder.gate = asyncio.Event()  # never set: the provider stalls
    subject = batcher(embedder, queue_timeout_s=0.05)
    with pytest.raises(ApiError) as refused:
        await subject.run(items("stalled"))
    assert refused.value.status == 503
    assert "Retry-After" in refused.value.headers()
    await subject.aclose()


async def test_a_failure_reaches_every_waiter_and_the_next_request_tries_again() -> None:
    embedder = CountingEmbedder()
    embedder.fail = lambda texts: ApiError(503, "down", retry_after=5)
    subject = batcher(embedder)
    for _ in range(2):
        with pytest.raises(FailedInput) as failed:
            await subject.run(items("x"))
        assert isinstance(failed.value.error, ApiError)
    embedder.fail = None
    assert len(await subject.run(items("x"))) == 1
    assert len(embedder.batches) == 3


async def test_inputs_the_provider_names_fail_alone() -> None:
    embedder = CountingEmbedder()

    def refuse_long(texts: list[str]) -> ApiError | None:
        bad = [i for i, text in enumerate(texts) if "too long" in text]
        return InputsRefused("too long", bad, code="context_length_exceeded") if bad else None

    embedder.fail = refuse_long
    subject = batcher(embedder, max_concurrency=1)
    embedder.gate = asyncio.Event()
    blocker = asyncio.create_task(subject.run(items("blocker")))
    await settle()
    good = asyncio.create_task(subject.run(items("good one", "good two")))
    bad = asyncio.create_task(subject.run(items("this is too long")))
    await settle()
    embedder.gate.set()
    await blocker
    assert len(await good) == 2
    with pytest.raises(FailedInput) as failed:
        await bad
    assert failed.value.error.code == "context_length_exceeded"  # type: ignore[attr-defined]
    assert sorted(embedder.batches[1]) == ["good one", "good two", "this is too long"]
    assert embedder.batches[2] == ["good one", "good two"]


async def test_an_unattributed_refusal_is_retried_singly_so_neighbours_succeed() -> None:
    embedder = CountingEmbedder()
    embedder.fail = lambda texts: ApiError(400, "bad input") if "poison" in texts else None
    subject = batcher(embedder)
    result = subject.run(items("fine", "poison", "also fine"))
    with pytest.raises(FailedInput) as failed:
        await result
    assert failed.value.key == cache_key("test", "poison")
    assert ["fine"] in embedder.batches and ["also fine"] in embedder.batches


async def test_inputs_arriving_turn_after_turn_join_one_batch() -> None:
    # As after a call returns: its clients' next requests reach the batcher one event-loop
    # turn apart, and the first must not leave alone with the rest behind it.
    embedder = CountingEmbedder()
    subject = batcher(embedder, max_concurrency=1)

    async def arrive(turns: int, text: str) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        await subject.run(items(text))

    await asyncio.gather(*(arrive(turn, f"text {turn}") for turn in range(6)))
    assert [len(batch) for batch in embedder.batches] == [6]


async def test_a_lone_input_is_not_held_for_company() -> None:
    embedder = CountingEmbedder()
    subject = batcher(embedder, max_concurrency=1)
    await subject.run(items("alone"))
    later = asyncio.create_task(subject.run(items("later")))
    for _ in range(3):  # the first call is long done: this one is not waiting for it
        await asyncio.sleep(0)
    await later
    assert embedder.batches == [["alone"], ["later"]]
