"""Define the per-run knobs of the memo agent."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(kw_only=True)
class Context:
    """The context for the memo agent."""

    greeting: str = field(
        default_factory=lambda: os.environ.get("MEMO_GREETING", "Hello"),
        metadata={"description": "How replies start (MEMO_GREETING from the project's env)."},
    )
    user_id: str = field(
        default="anonymous",
        metadata={"description": "Whose memos to read and write in the store."},
    )
