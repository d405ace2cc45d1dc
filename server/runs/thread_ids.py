"""What a thread id chosen by a caller may be, on every surface."""

from __future__ import annotations

from server.runs.lookup import RunRejected

MAX_THREAD_ID_CHARS = 256
"""Longest thread id a caller may choose (Orca's own are UUIDs; AG-UI clients and LangServe
callers name theirs): past about 2,700 bytes PostgreSQL cannot index one."""


def check_thread_id(thread_id: str | None) -> None:
    """Refuse (RunRejected, 422) an id too long to index, or one no route could reach."""
    if thread_id and len(thread_id) > MAX_THREAD_ID_CHARS:
        raise RunRejected(
            f"thread_id is {len(thread_id)} characters; at most {MAX_THREAD_ID_CHARS}"
        )
    if thread_id and "/" in thread_id:  # routers decode %2F before matching a path
        raise RunRejected("thread_id may not contain '/': it is a segment of its paths")
