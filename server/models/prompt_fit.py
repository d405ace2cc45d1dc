"""Fit a chat prompt into a local model's context window.

llama.cpp refuses a prompt longer than its window ("Requested tokens exceed context
window"), so a thread whose last turns grew past SmolLM2's 2,048 tokens (long pasted
messages, long retrieved passages) failed every later turn. The prompt it is given is cut
to fit instead, keeping what matters most for the answer:

1. earlier turns go, oldest first (a leading system message and the last message stay);
2. then the system message (the retrieved passages) loses its end;
3. then the last message loses its end.

What is cut is only the prompt of this call: the thread's messages are not touched.
"""

from __future__ import annotations

from collections.abc import Callable

Tokenize = Callable[[str], list[int]]
Detokenize = Callable[[list[int]], str]

TEMPLATE_TOKENS_PER_MESSAGE = 8
"""Room for the chat template's role markers around each message (SmolLM2's take 5)."""
TEMPLATE_TOKENS_AFTER = 8
"""Room for the template's closing `<|im_start|>assistant` line."""


def prompt_budget(context_tokens: int, max_tokens: int) -> int:
    """Tokens a prompt may take: the window less the answer's room (at most half of it)."""
    return context_tokens - min(max_tokens, context_tokens // 2) - TEMPLATE_TOKENS_AFTER


def fit_prompt(
    messages: list[dict[str, str]], tokenize: Tokenize, detokenize: Detokenize, budget: int
) -> list[dict[str, str]]:
    """Return `messages` cut to at most `budget` tokens (their template's included)."""
    sizes = [len(tokenize(m["content"])) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages]
    kept = list(range(len(messages)))
    first_turn = 1 if messages and messages[0]["role"] == "system" else 0
    while sum(sizes[i] for i in kept) > budget and len(kept) > first_turn + 1:
        kept.pop(first_turn)  # the oldest earlier turn
    fitted = [dict(messages[i]) for i in kept]
    over = sum(sizes[i] for i in kept) - budget
    for message in fitted:  # the system message first, the last message after it
        if over <= 0:
            break
        tokens = tokenize(message["content"])
        keep = max(0, len(tokens) - over)
        message["content"] = detokenize(tokens[:keep])
        over -= len(tokens) - keep
    return fitted
