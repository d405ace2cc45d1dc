"""Models by alias, so a workflow never names a provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

Model = TypeVar("Model")


class UnknownModelError(LookupError):
    """An alias that no configured model answers to."""

    def __init__(self, kind: str, alias: str, known: list[str]) -> None:
        super().__init__(f"unknown {kind} model {alias!r}; configured: {', '.join(known)}")
        self.alias = alias


def _lookup(kind: str, models: dict[str, Model], alias: str) -> Model:
    if alias not in models:
        raise UnknownModelError(kind, alias, sorted(models))
    return models[alias]


@dataclass
class ModelCatalog:
    """The models loaded for this process, addressed by alias."""

    chat: dict[str, BaseChatModel] = field(default_factory=dict)
    embeddings: dict[str, Embeddings] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    """Alias → `provider:model`, for health checks and run metadata."""

    def chat_model(self, alias: str) -> BaseChatModel:
        """Return the chat model behind `alias`.

        Raises:
            UnknownModelError: when no chat model has that alias.
        """
        return _lookup("chat", self.chat, alias)

    def embedding_model(self, alias: str) -> Embeddings:
        """Return the embedding model behind `alias`.

        Raises:
            UnknownModelError: when no embedding model has that alias.
        """
        return _lookup("embedding", self.embeddings, alias)
