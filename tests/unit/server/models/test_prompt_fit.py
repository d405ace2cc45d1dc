"""A prompt longer than the local model's window is cut to fit (`prompt_fit.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.models.local_chat import LlamaCppChatModel, load_smollm2
from server.models.prompt_fit import TEMPLATE_TOKENS_PER_MESSAGE, fit_prompt, prompt_budget


def words(text: str) -> list[int]:
    return [len(word) for word in text.split()]


def unwords(tokens: list[int]) -> str:
    return " ".join("w" * size for size in tokens)


def chat(*contents: str, system: str | None = None) -> list[dict[str, str]]:
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": c}
        for i, c in enumerate(contents)
    ]
    return ([{"role": "system", "content": system}] if system else []) + turns


def size(messages: list[dict[str, str]]) -> int:
    return sum(len(words(m["content"])) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)


def test_a_prompt_that_fits_is_left_as_it_is() -> None:
    messages = chat("a b", "c", "d e f", system="s t")
    assert fit_prompt(messages, words, unwords, budget=size(messages)) == messages


def test_earlier_turns_go_oldest_first() -> None:
    messages = chat("old " * 50, "older answer " * 20, "last question", system="passages")
    fitted = fit_prompt(messages, words, unwords, budget=size(messages) - 58)
    assert [m["content"] for m in fitted] == [
        "passages",
        "older answer " * 20,
        "last question",
    ]


def test_then_the_passages_lose_their_end_and_the_question_stays_whole() -> None:
    messages = chat("x " * 10, "the question", system="p " * 100)
    budget = 2 * TEMPLATE_TOKENS_PER_MESSAGE + 2 + 30
    fitted = fit_prompt(messages, words, unwords, budget=budget)
    assert [m["role"] for m in fitted] == ["system", "assistant"]
    assert len(words(fitted[0]["content"])) == 30
    assert fitted[1]["content"] == "the question"
    assert size(fitted) == budget


def test_a_question_longer_than_the_window_is_cut_last() -> None:
    fitted = fit_prompt(chat("q " * 500, system="p " * 10), words, unwords, budget=100)
    assert fitted[0]["content"] == ""
    assert size(fitted) == 100


def test_the_answer_keeps_room_in_the_window() -> None:
    assert prompt_budget(2048, 256) == 2048 - 256 - 8
    assert prompt_budget(512, 4096) == 512 - 256 - 8  # an answer gets at most half


@pytest.fixture(scope="module")
def smollm2() -> Iterator[LlamaCppChatModel]:
    yield LlamaCppChatModel(llama=load_smollm2(context_tokens=512), max_tokens=8)


async def test_smollm2_answers_a_thread_longer_than_its_window(
    smollm2: LlamaCppChatModel,
) -> None:
    """Was `ValueError: Requested tokens exceed context window` on every later turn."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    long_turn = "The crane was inspected on Monday and found in good order. " * 60
    messages = [
        SystemMessage("Passages: " + "Green tea is served at ten. " * 80),
        HumanMessage(long_turn),
        AIMessage(long_turn),
        HumanMessage("When is green tea served? " + long_turn),
    ]
    answer = await smollm2.ainvoke(messages)
    assert str(answer.content).strip()
    streamed = [chunk.content async for chunk in smollm2.astream(messages)]
    assert "".join(str(piece) for piece in streamed).strip()


async def test_smollm2_streams_an_empty_answer_as_an_answer(smollm2: LlamaCppChatModel) -> None:
    """A generation that yields no text (here: every character a stop) was LangChain's
    "No generations found in stream." and failed an AG-UI run."""
    from langchain_core.messages import HumanMessage

    every_character = [chr(code) for code in range(32, 127)] + ["\n"]
    chunks = [chunk async for chunk in smollm2.astream([HumanMessage("Hi")], stop=every_character)]
    assert "".join(str(chunk.content) for chunk in chunks) == ""
    events = [
        event["event"]
        async for event in smollm2.astream_events(
            [HumanMessage("Hi")], stop=every_character, version="v2"
        )
    ]
    assert events[-1] == "on_chat_model_end"
