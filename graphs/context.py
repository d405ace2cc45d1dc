"""The run context of every workflow (defined in `nodes.context`, below the graphs)."""

from __future__ import annotations

from nodes.context import Context

__all__ = ["Context"]
