"""A PostgreSQL server of a test's own, on a free loopback port, to stop and restart at will.

The machine's cluster on 5432 is shared by every test (and every engineer) running at the
same time: a test that restarts PostgreSQL restarts this one instead. `initdb` into a
temporary directory (as the `postgres` OS user when the tests run as root, which
PostgreSQL refuses), `pg_ctl start` on a free port, trust authentication on loopback only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.support_processes import free_port

BINDIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
"""Debian's server binaries, newest major first (`pg_ctl` and `initdb` are not on PATH)."""
SERVER_OPTIONS = (
    # A throw-away cluster: durability buys nothing, and a restart should take a second.
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    " -c max_connections=200 -c listen_addresses=127.0.0.1"
)


@dataclass
class PrivatePostgres:
    """One private server: its data directory, port and owner."""

    root: Path
    port: int
    owner: list[str]
    """The command prefix that runs a program as the cluster's owner (empty: as we are)."""

    @property
    def bindir(self) -> Path:
        return BINDIRS[0]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str | Path) -> None:
        subprocess.run(
            [*self.owner, *map(str, command)], check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} {SERVER_OPTIONS}"
        log = self.root / "server.log"
        self._run(
            self.bindir / "pg_ctl",
            "-D",
            self.root / "data",
            "-l",
            log,
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back and disconnect every session, as a restart does)."""
        self._run(self.bindir / "pg_ctl", "-D", self.root / "data", "-m", mode, "-w", "stop")

    def terminate_backends(self, database: str) -> int:
        """`pg_terminate_backend` every other session on `database`; return how many."""
        with psycopg.connect(self.url(), autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        return int(row[0]) if row else 0

    def create_database(self, name: str) -> str:
        """Create a database; return its URL."""
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Initialise and start a private server; stop it and delete its files afterwards."""
    if not BINDIRS or not (BINDIRS[0] / "initdb").exists():
        pytest.skip("needs PostgreSQL's server binaries (apt: postgresql)")
    root = Path(tempfile.mkdtemp(prefix="orca-pg-"))
    owner: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        owner = ["runuser", "-u", "postgres", "--"]
    server = PrivatePostgres(root, free_port(), owner)
    try:
        server._run(
            server.bindir / "initdb", "-D", root / "data", "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # never started, or already stopped
        shutil.rmtree(root, ignore_errors=True)
