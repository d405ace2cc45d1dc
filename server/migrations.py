"""The service's own PostgreSQL tables, created by append-only migrations.

`MIGRATIONS[i]` is version `i + 1`. Never edit or reorder an entry that has shipped: add a
new one. Each runs once, in its own transaction, recorded in `orca_migrations`; an
advisory lock lets several processes start against one database at the same time.
(LangGraph's checkpoint tables are created by `AsyncPostgresSaver.setup()`, not here.)
"""

from __future__ import annotations

import logging

from psycopg import AsyncConnection

log = logging.getLogger("orca")

MIGRATIONS: list[str] = [
    # 1: shared embedding cache (L2). key = sha256(model identity NUL text); vector =
    # float32 little-endian; tokens = the input's token count, so usage survives a hit.
    """
    CREATE TABLE orca_embedding_cache (
        key bytea PRIMARY KEY,
        vector bytea NOT NULL,
        tokens integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # 2: API keys (digests only) and thread owners (see server/auth/).
    """
    CREATE TABLE orca_api_keys (
        id text PRIMARY KEY,
        digest bytea NOT NULL UNIQUE,
        name text NOT NULL,
        owner text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        last_used_at timestamptz
    );
    CREATE TABLE orca_threads (
        thread_id text PRIMARY KEY,
        owner text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # 3: the threads-and-runs API (server/runs/pg_store.py). A run row is both the resource
    # and the queue entry. The partial unique index is the hard guarantee of one running
    # run per thread, whatever the workers race on. No foreign key to orca_threads: the
    # run of a stateless call outlives its temporary thread.
    """
    ALTER TABLE orca_threads
        ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN status text NOT NULL DEFAULT 'idle',
        ADD COLUMN "values" jsonb,
        ADD COLUMN interrupts jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
    CREATE INDEX orca_threads_metadata ON orca_threads USING gin (metadata);
    CREATE TABLE orca_runs (
        run_id text PRIMARY KEY,
        thread_id text NOT NULL,
        assistant_id text NOT NULL,
        graph_id text NOT NULL,
        owner text NOT NULL,
        kwargs jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        multitask_strategy text NOT NULL DEFAULT 'enqueue',
        status text NOT NULL DEFAULT 'pending',
        attempt integer NOT NULL DEFAULT 0,
        worker text,
        lease_until timestamptz,
        not_before timestamptz NOT NULL DEFAULT now(),
        result jsonb,
        cancel_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX orca_runs_one_running_per_thread
        ON orca_runs (thread_id) WHERE status = 'running';
    CREATE INDEX orca_runs_claimable
        ON orca_runs (not_before, created_at) WHERE status = 'pending';
    CREATE INDEX orca_runs_leases ON orca_runs (lease_until) WHERE status = 'running';
    CREATE INDEX orca_runs_thread ON orca_runs (thread_id, created_at);
    CREATE INDEX orca_runs_owner ON orca_runs (owner, status);
    CREATE TABLE orca_run_events (
        run_id text NOT NULL,
        seq integer NOT NULL,
        event text NOT NULL,
        data bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, seq)
    );
    CREATE INDEX orca_run_events_created_at ON orca_run_events (created_at)
    """,
]

MIGRATIONS.append(
    # 4: a cancellation asked for a running run, kept until its worker sees it, so a
    # cancel whose NOTIFY was missed still arrives at the next heartbeat.
    "ALTER TABLE orca_runs ADD COLUMN cancel_action text"
)

MIGRATIONS.append(
    # 5: what each API key may do (server/auth/scopes.py); keys made before scopes existed
    # keep doing what every key could do then except reading server paths.
    "ALTER TABLE orca_api_keys ADD COLUMN scopes text NOT NULL DEFAULT 'run ingest'"
)

MIGRATIONS.append(
    # 6: saved assistants (server/runs/pg_assistants.py): the current row of each, and every
    # version (a PATCH adds one; `set_latest` copies one back into the current row).
    """
    CREATE TABLE orca_assistants (
        assistant_id text PRIMARY KEY,
        owner text NOT NULL,
        graph_id text NOT NULL,
        name text NOT NULL,
        description text,
        config jsonb NOT NULL DEFAULT '{}',
        context jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX orca_assistants_owner ON orca_assistants (owner, created_at);
    CREATE INDEX orca_assistants_metadata ON orca_assistants USING gin (metadata);
    CREATE TABLE orca_assistant_versions (
        assistant_id text NOT NULL REFERENCES orca_assistants ON DELETE CASCADE,
        version integer NOT NULL,
        graph_id text NOT NULL,
        name text NOT NULL,
        description text,
        config jsonb NOT NULL DEFAULT '{}',
        context jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (assistant_id, version)
    )
    """
)
MIGRATIONS.append(
    # 7: crons (server/crons/pg_store.py). `payload` is the run body of each firing; a
    # scheduler claims a due cron by setting `claimed_by`/`claimed_until` and moves
    # `next_run_date` on when its firing is recorded. `owner_kind`/`owner_scopes`: the
    # identity each firing runs as. No foreign key to orca_threads (a firing finds a deleted
    # thread and deletes the cron), as runs have none.
    """
    CREATE TABLE orca_crons (
        cron_id text PRIMARY KEY,
        owner text NOT NULL,
        owner_kind text NOT NULL,
        owner_scopes text NOT NULL,
        assistant_id text NOT NULL,
        thread_id text,
        schedule text NOT NULL,
        timezone text,
        end_time timestamptz,
        enabled boolean NOT NULL DEFAULT true,
        on_run_completed text,
        payload jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        next_run_date timestamptz,
        claimed_by text,
        claimed_until timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX orca_crons_owner ON orca_crons (owner, created_at);
    CREATE INDEX orca_crons_due ON orca_crons (next_run_date) WHERE enabled
    """
)
MIGRATIONS.append(
    # 8: when a thread's status or values last changed (langgraph-api's `state_updated_at`,
    # a `threads.search` sort key); a metadata PATCH or a run starting moves only
    # `updated_at`. Existing threads start from `updated_at`, the nearest thing they have.
    """
    ALTER TABLE orca_threads ADD COLUMN state_updated_at timestamptz;
    UPDATE orca_threads SET state_updated_at = updated_at;
    ALTER TABLE orca_threads ALTER COLUMN state_updated_at SET NOT NULL,
        ALTER COLUMN state_updated_at SET DEFAULT now()
    """
)
MIGRATIONS.append(
    # 9: thread TTLs (server/runs/thread_expiry.py): what the sweeper does to a thread once
    # `expires_at` has passed; NULL never expires. The partial index serves its search.
    """
    ALTER TABLE orca_threads ADD COLUMN ttl_strategy text,
        ADD COLUMN ttl_minutes double precision, ADD COLUMN expires_at timestamptz;
    CREATE INDEX orca_threads_expiry ON orca_threads (expires_at) WHERE expires_at IS NOT NULL
    """
)

LOCK_ID = 0x0C1A_0001
"""`pg_advisory_xact_lock` key that serialises migrations across processes."""


async def migrate(connection: AsyncConnection[object]) -> int:
    """Apply the migrations the database has not seen; return the schema version."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS orca_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await connection.execute("SELECT coalesce(max(version), 0) FROM orca_migrations")
        row = await cursor.fetchone()
        current = int(row[0]) if row else 0  # type: ignore[index]
        for version, statement in enumerate(MIGRATIONS[current:], start=current + 1):
            await connection.execute(statement)  # type: ignore[arg-type]
            await connection.execute(
                "INSERT INTO orca_migrations (version) VALUES (%s)", (version,)
            )
            log.info("applied migration %d", version)
    return len(MIGRATIONS)
