"""The SQL of the PostgreSQL run store (`server/runs/pg_store.py`).

Statements that claim, finish or requeue runs are single statements: each is atomic on its
own, and none holds a transaction open across a round trip.
"""

from __future__ import annotations

from psycopg import sql

from server.runs.pg_signals import EVENTS, WORK

ONE_RUNNING = "orca_runs_one_running_per_thread"
"""The partial unique index a second running run of a thread violates."""

THREAD_COLUMNS = sql.SQL(
    'thread_id, owner, metadata, status, "values", interrupts, created_at, updated_at,'
    " state_updated_at, ttl_strategy, ttl_minutes, expires_at"
)
EXPIRES = "now() + make_interval(secs => %(minutes)s::float8 * 60)"
"""A TTL's expiry, on the database's clock as leases are (NULL minutes: no expiry)."""
INSERT_THREAD = f"""INSERT INTO orca_threads
        (thread_id, owner, metadata, ttl_strategy, ttl_minutes, expires_at)
    VALUES (%(thread_id)s, %(owner)s, %(metadata)s, %(strategy)s, %(minutes)s, {EXPIRES})
    ON CONFLICT (thread_id) DO NOTHING RETURNING {{columns}}"""
"""A new thread, with its TTL when it has one; nothing when the id is taken."""
SET_TTL = f"""UPDATE orca_threads
    SET ttl_strategy = %(strategy)s, ttl_minutes = %(minutes)s, expires_at = {EXPIRES}
    WHERE thread_id = %(thread_id)s AND owner = %(owner)s RETURNING {{columns}}"""
EXPIRED_THREADS = """SELECT {columns} FROM orca_threads t
    WHERE expires_at <= now() AND NOT EXISTS (
        SELECT 1 FROM orca_runs r
        WHERE r.thread_id = t.thread_id AND r.status IN ('pending', 'running'))
    ORDER BY expires_at LIMIT %s"""
"""Idle threads past their expiry, the longest expired first (a busy one waits its turn)."""
RUN_COLUMNS = sql.SQL(
    "run_id, thread_id, assistant_id, graph_id, owner, kwargs, metadata, multitask_strategy,"
    " status, attempt, worker, lease_until, not_before, result, cancel_reason, created_at,"
    " updated_at"
)
SORTS = {
    # "C" collation: the code-point order Python's `sorted` gives the memory store.
    "thread_id": sql.SQL('thread_id COLLATE "C"'),
    "status": sql.SQL('status COLLATE "C"'),
    "created_at": sql.SQL("created_at"),
    "updated_at": sql.SQL("updated_at"),
    "state_updated_at": sql.SQL("state_updated_at"),
}
"""The only columns `search_threads` sorts by: caller text never reaches the SQL."""

LEASE = sql.SQL("now() + make_interval(secs => %(lease_s)s)")
HELD = sql.SQL(
    "run_id = %(run_id)s AND worker = %(worker)s AND attempt = %(attempt)s AND status = 'running'"
)
"""The fence of every write a worker makes: it must still hold this attempt."""

CLAIM = sql.SQL("""
    UPDATE orca_runs SET status = 'running', worker = %(worker)s, attempt = attempt + 1,
        lease_until = {lease}, updated_at = now()
    WHERE status = 'pending' AND run_id = (
        SELECT run_id FROM orca_runs r
        WHERE r.status = 'pending' AND r.not_before <= now() AND NOT EXISTS (
            SELECT 1 FROM orca_runs o WHERE o.thread_id = r.thread_id AND o.status = 'running')
        ORDER BY r.created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING {columns}
""").format(lease=LEASE, columns=RUN_COLUMNS)
"""Claim one run in one statement: SKIP LOCKED lets concurrent claims pass each other."""

INSERT_RUN_SQL = sql.SQL("""
    WITH owned AS (
        SELECT 1 FROM orca_threads WHERE thread_id = %(thread_id)s AND owner = %(owner)s
    ), run AS (
        INSERT INTO orca_runs ({columns})
        SELECT %(run_id)s, %(thread_id)s, %(assistant_id)s, %(graph_id)s, %(owner)s, %(kwargs)s,
            %(metadata)s, %(multitask_strategy)s, %(status)s, %(attempt)s, %(worker)s, {lease},
            %(not_before)s, %(result)s, %(cancel_reason)s, %(created_at)s, %(updated_at)s
        FROM owned WHERE NOT %(only_if_idle)s OR NOT EXISTS (
            SELECT 1 FROM orca_runs WHERE thread_id = %(thread_id)s
            AND status IN ('pending', 'running'))
        RETURNING thread_id, lease_until
    ), thread AS (
        UPDATE orca_threads t SET status = 'busy', metadata = t.metadata || %(thread_metadata)s,
            updated_at = now()
        FROM run WHERE t.thread_id = run.thread_id
    )
    SELECT (SELECT lease_until FROM run) AS lease_until, EXISTS (SELECT 1 FROM run) AS inserted,
        EXISTS (SELECT 1 FROM owned) AS owned
""")
"""A new run on its owner's thread, and the thread marked busy, together; with
`only_if_idle`, only on an idle thread. One row says which, if any, stopped the insert."""
INSERT_RUN = {
    claimed: INSERT_RUN_SQL.format(
        columns=RUN_COLUMNS,
        lease=LEASE if claimed else sql.SQL("%(lease_until)s::timestamptz"),
    )
    for claimed in (False, True)
}
"""`INSERT_RUN_SQL` for a pending run (False) and for one claimed as it is inserted (True)."""

FINISH_RUN = sql.SQL("""
    WITH run AS (
        UPDATE orca_runs SET status = %(status)s, result = %(result)s,
            cancel_reason = %(cancel_reason)s, worker = NULL, lease_until = NULL,
            updated_at = now()
        WHERE {held} RETURNING run_id, thread_id, EXISTS (
            SELECT 1 FROM orca_runs p WHERE p.thread_id = orca_runs.thread_id
            AND p.status = 'pending') AS queued
    ), thread AS (
        UPDATE orca_threads t SET status = %(thread_status)s,
            "values" = coalesce(%(values)s, t."values"), interrupts = %(interrupts)s,
            updated_at = now(), state_updated_at = now()
        FROM run WHERE %(set_thread)s AND t.thread_id = run.thread_id
    ), events AS (
        INSERT INTO orca_run_events (run_id, seq, event, data)
        SELECT run.run_id, e.seq, e.event, e.data FROM run,
            unnest(%(seqs)b::integer[], %(names)b::text[], %(datas)b::bytea[])
                AS e(seq, event, data)
        ON CONFLICT (run_id, seq) DO NOTHING
    )
    SELECT count(*) > 0 AS held, bool_or(queued) AS queued,
        max(pg_notify({events}, run_id)::text),
        max(CASE WHEN queued THEN pg_notify({work}, '')::text END)
    FROM run
""").format(held=HELD, events=sql.Literal(EVENTS), work=sql.Literal(WORK))
"""A run's outcome, its thread's state and its last events, fenced by the attempt: all or
nothing. The notifications go out at commit, to every process (this one included): workers
are woken only when a run waits for the thread (a run queued for want of a slot was
announced when it was queued, and a full worker remembers it, workers.py)."""

CLAIM_TRIES = 3
"""Claims that race for two pending runs of one thread: the loser hits the unique index
and looks again (it then sees the winner's running run and skips that thread)."""

APPEND_EVENTS = sql.SQL("""
    WITH events AS (
        INSERT INTO orca_run_events (run_id, seq, event, data)
        SELECT %s, * FROM unnest(%b::integer[], %b::text[], %b::bytea[])
        ON CONFLICT (run_id, seq) DO NOTHING
    )
    SELECT pg_notify({events}, %s)
""").format(events=sql.Literal(EVENTS))
"""A batch of a run's events, and the notification readers in other processes wait for.

Sent again when its connection died before the answer (it may have committed), so an
event already stored is skipped, here and in `FINISH_RUN`: a seq is written once."""
