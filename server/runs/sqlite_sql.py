"""The schema, SQL and row codecs of the SQLite run store (`sqlite_store.py`, `sqlite_threads.py`).

The tables mirror PostgreSQL's (`server/migrations.py`, migrations 3 and 4) in
`$ORCA_DATA_DIR/orca.sqlite`, beside the API keys: JSON is stored as text, times as UTC
text `YYYY-MM-DD HH:MM:SS.ffffff`, which sorts as it compares and extends the
`CURRENT_TIMESTAMP` (`YYYY-MM-DD HH:MM:SS`) of thread rows made by earlier releases.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from server.runs.containment import contains
from server.runs.records import RunRecord, ThreadFilter, ThreadRecord
from server.runs.serde import dumps

THREAD_COLUMNS_ADDED = {
    "orca_threads": {
        "metadata": "TEXT NOT NULL DEFAULT '{}'",
        "status": "TEXT NOT NULL DEFAULT 'idle'",
        "values": "TEXT",
        "interrupts": "TEXT NOT NULL DEFAULT '{}'",
        # SQLite adds no column with a non-constant default: NULL reads as `created_at`.
        "updated_at": "TEXT",
        # NULL (a row of an earlier release, an ownership claim) reads as `updated_at`.
        "state_updated_at": "TEXT",
        # The thread's TTL (server/runs/thread_expiry.py); NULL: it never expires.
        "ttl_strategy": "TEXT",
        "ttl_minutes": "REAL",
        "expires_at": "TEXT",
    }
}
"""What the runs API keeps on a thread, added to `orca_threads` (a file of an earlier
release has only `thread_id, owner, created_at` there, from the ownership claims)."""

SCHEMA = (
    # A run row is both the resource and the queue entry. No foreign key to orca_threads:
    # the run of a stateless call outlives its temporary thread.
    """CREATE TABLE IF NOT EXISTS orca_runs (
        run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, assistant_id TEXT NOT NULL,
        graph_id TEXT NOT NULL, owner TEXT NOT NULL, kwargs TEXT NOT NULL DEFAULT '{}',
        metadata TEXT NOT NULL DEFAULT '{}', multitask_strategy TEXT NOT NULL DEFAULT 'enqueue',
        status TEXT NOT NULL DEFAULT 'pending', attempt INTEGER NOT NULL DEFAULT 0,
        worker TEXT, lease_until TEXT, not_before TEXT NOT NULL, result TEXT,
        cancel_reason TEXT, cancel_action TEXT, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    # The hard guarantee of one running run per thread, as in PostgreSQL.
    """CREATE UNIQUE INDEX IF NOT EXISTS orca_runs_one_running_per_thread
        ON orca_runs (thread_id) WHERE status = 'running'""",
    """CREATE INDEX IF NOT EXISTS orca_runs_claimable
        ON orca_runs (created_at) WHERE status = 'pending'""",
    """CREATE INDEX IF NOT EXISTS orca_runs_leases
        ON orca_runs (lease_until) WHERE status = 'running'""",
    "CREATE INDEX IF NOT EXISTS orca_runs_thread ON orca_runs (thread_id, created_at)",
    "CREATE INDEX IF NOT EXISTS orca_runs_owner ON orca_runs (owner, status)",
    """CREATE TABLE IF NOT EXISTS orca_run_events (
        run_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, data BLOB NOT NULL,
        created_at TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS orca_run_events_created_at ON orca_run_events (created_at)",
    "CREATE INDEX IF NOT EXISTS orca_threads_owner ON orca_threads (owner, created_at)",
    """CREATE INDEX IF NOT EXISTS orca_threads_expiry
        ON orca_threads (expires_at) WHERE expires_at IS NOT NULL""",
)

ONE_RUNNING = "orca_runs.thread_id"
"""What SQLite names in the error of a second running run of a thread (the partial unique
index is the only uniqueness on that column)."""

THREAD_COLUMNS = (
    'thread_id, owner, metadata, status, "values", interrupts, created_at,'
    " coalesce(updated_at, created_at) AS updated_at,"
    " coalesce(state_updated_at, updated_at, created_at) AS state_updated_at,"
    " ttl_strategy, ttl_minutes, expires_at"
)
RUN_COLUMNS = (
    "run_id, thread_id, assistant_id, graph_id, owner, kwargs, metadata, multitask_strategy,"
    " status, attempt, worker, lease_until, not_before, result, cancel_reason, created_at,"
    " updated_at"
)
SORTS = {
    # SQLite's BINARY collation is code-point order, as Python's `sorted` and PostgreSQL's "C".
    "thread_id": "thread_id",
    "status": "status",
    "created_at": "created_at",
    "updated_at": "coalesce(updated_at, created_at)",
    "state_updated_at": "coalesce(state_updated_at, updated_at, created_at)",
}
"""The only columns `search_threads` sorts by: caller text never reaches the SQL."""

HELD = "run_id = ? AND worker = ? AND attempt = ? AND status = 'running'"
"""The fence of every write a worker makes: it must still hold this attempt."""

INSERT_RUN = f"""INSERT INTO orca_runs ({RUN_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

MARK_BUSY = """UPDATE orca_threads SET status = 'busy', metadata = orca_merge(metadata, ?),
    updated_at = ? WHERE thread_id = ?"""

CLAIM = f"""UPDATE orca_runs SET status = 'running', worker = :worker, attempt = attempt + 1,
        lease_until = :lease_until, updated_at = :now
    WHERE status = 'pending' AND run_id = (
        SELECT run_id FROM orca_runs r
        WHERE r.status = 'pending' AND r.not_before <= :now AND NOT EXISTS (
            SELECT 1 FROM orca_runs o WHERE o.thread_id = r.thread_id AND o.status = 'running')
        ORDER BY r.created_at, r.rowid LIMIT 1)
    RETURNING {RUN_COLUMNS}"""
"""Claim one run in one statement (the process's one connection serialises claims)."""

FINISH_RUN = f"""UPDATE orca_runs SET status = ?, result = ?, cancel_reason = ?, worker = NULL,
    lease_until = NULL, updated_at = ? WHERE {HELD} RETURNING thread_id, EXISTS (
        SELECT 1 FROM orca_runs p WHERE p.thread_id = orca_runs.thread_id
        AND p.status = 'pending')"""

FINISH_THREAD = """UPDATE orca_threads SET status = ?, "values" = coalesce(?, "values"),
    interrupts = ?, updated_at = ?, state_updated_at = ? WHERE thread_id = ?"""

REQUEUE = """UPDATE orca_runs SET
        status = CASE WHEN attempt < :max THEN 'pending' ELSE 'error' END,
        result = CASE WHEN attempt < :max THEN result ELSE :gave_up END,
        worker = NULL, lease_until = NULL, updated_at = :now
    WHERE status = 'running' AND lease_until < :now RETURNING run_id"""

EXPIRED_THREADS = f"""SELECT {THREAD_COLUMNS} FROM orca_threads t
    WHERE expires_at IS NOT NULL AND expires_at <= ? AND NOT EXISTS (
        SELECT 1 FROM orca_runs r
        WHERE r.thread_id = t.thread_id AND r.status IN ('pending', 'running'))
    ORDER BY expires_at LIMIT ?"""
"""Idle threads past their expiry, the longest expired first (a busy one waits its turn)."""

APPEND_EVENT = """INSERT INTO orca_run_events (run_id, seq, event, data, created_at)
    VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, seq) DO NOTHING"""
"""A seq is written once: a batch sent again (and `finish_run`'s events) skip stored ones."""


def loads(text: str | bytes | None) -> Any:
    """Decode a JSON column (the standard library keeps integers past 64 bits exact)."""
    return None if text is None else json.loads(text)


def merge(document: str | None, patch: str | None) -> str:
    """`orca_merge(a, b)`: the top-level keys of `b` over `a`, as PostgreSQL's `jsonb || jsonb`.

    SQLite's `json_patch` is RFC 7396 instead: it merges nested objects and deletes keys
    whose new value is null, which `PATCH /threads/{id}` must not do.
    """
    merged = {**(loads(document) or {}), **(loads(patch) or {})}
    return json.dumps(merged, ensure_ascii=False, separators=(",", ":"))


def match(document: str | None, key: str, wanted: str) -> bool:
    """`orca_match(doc, key, wanted)`: whether the object's `key` equals `wanted` (JSON).

    The memory store's test: a missing key (or a document that is not an object) reads as
    null, and values are compared whole (`["x"]` does not match `["x", "y"]`).
    """
    found = loads(document)
    value = found.get(key) if isinstance(found, dict) else None
    return bool(value == loads(wanted))


def holds(document: str | None, key: str, wanted: str) -> bool:
    """`orca_holds(doc, key, wanted)`: whether the object has `key`, containing `wanted`.

    The threads' test (`ThreadFilter`): containment, as PostgreSQL's `@>` and langgraph-api
    (`containment.py`); a missing key is no match even for a wanted null.
    """
    found = loads(document)
    return isinstance(found, dict) and key in found and contains(found[key], loads(wanted))


def text(value: Any) -> str:
    """Encode a value for a JSON column, as the run events are (serde.py)."""
    return dumps(value).decode()


def json_or_null(value: Any) -> str | None:
    """Encode a value for a nullable JSON column (None stays NULL)."""
    return None if value is None else text(value)


def stamp(moment: datetime | None) -> str | None:
    """Return a time as the store keeps it: UTC text to the microsecond."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def parse_time(stored: str | None) -> datetime | None:
    """Read a stored time (`CURRENT_TIMESTAMP`'s, without a fraction, too) as aware UTC."""
    return None if stored is None else datetime.fromisoformat(stored).replace(tzinfo=UTC)


def thread_of(row: sqlite3.Row) -> ThreadRecord:
    """Return the thread of a row of `THREAD_COLUMNS`."""
    return ThreadRecord(
        thread_id=row["thread_id"],
        owner=row["owner"],
        metadata=loads(row["metadata"]),
        status=row["status"],
        values=loads(row["values"]),
        interrupts=loads(row["interrupts"]),
        created_at=parse_time(row["created_at"]),  # type: ignore[arg-type]
        updated_at=parse_time(row["updated_at"]),  # type: ignore[arg-type]
        state_updated_at=parse_time(row["state_updated_at"]),  # type: ignore[arg-type]
        ttl_strategy=row["ttl_strategy"],
        ttl_minutes=row["ttl_minutes"],
        expires_at=parse_time(row["expires_at"]),
    )


def run_of(row: sqlite3.Row) -> RunRecord:
    """Return the run of a row of `RUN_COLUMNS`."""
    times = ("lease_until", "not_before", "created_at", "updated_at")
    fields = {key: row[key] for key in row.keys()}  # noqa: SIM118 - a Row is no mapping
    fields.update({key: parse_time(fields[key]) for key in times})
    fields.update({key: loads(fields[key]) for key in ("kwargs", "metadata", "result")})
    return RunRecord(**fields)


def where_sql(owner: str, where: ThreadFilter) -> tuple[str, list[Any]]:
    """Return the condition (and its parameters) of a thread search."""
    clauses, params = ["owner = ?"], [owner]
    for column, wanted in (("metadata", where.metadata), ("values", where.values)):
        for key, value in wanted.items():
            clauses.append(f'orca_holds("{column}", ?, ?)')
            params += [key, text(value)]
    if where.status is not None:
        clauses.append("status = ?")
        params.append(where.status)
    if where.ids is not None:
        clauses.append("thread_id IN (SELECT value FROM json_each(?))")
        params.append(text(list(where.ids)))
    return " AND ".join(clauses), params
