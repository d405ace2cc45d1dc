"""Who is calling: every request is served as one identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Identity:
    """An authenticated caller; `id` owns threads and is the Qdrant tenant."""

    id: str
    kind: Literal["anonymous", "api_key", "clerk"]

    @property
    def tenant(self) -> str:
        """Return whose documents this caller may see and write."""
        return self.id


ANONYMOUS = Identity(id="public", kind="anonymous")
"""Everyone, when auth is off: one shared tenant and every thread shared."""
