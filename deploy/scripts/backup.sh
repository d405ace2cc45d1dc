#!/usr/bin/env bash
# Back up Citadel Orca's state into one dated folder; restore.sh puts it back.
#
#   backup.sh [--env-file FILE] [--force] [--keep-remote-snapshots] [DEST]
#
# DEST defaults to $ORCA_BACKUP_DIR/<UTC timestamp>/ and must not exist yet. The folder is
# written as DEST.partial and renamed to DEST only when everything succeeded, so a folder
# without that suffix is a complete backup; a failed run removes DEST.partial. It holds:
#
#   manifest.json                what was saved: versions, sizes, sha256, row and point counts
#   postgres.dump                ORCA_POSTGRES_URL set: `pg_dump --format=custom` of that
#                                database (checkpoints, the service's own tables, the
#                                embedding cache), one consistent snapshot of it
#   sqlite/checkpoints.sqlite    no ORCA_POSTGRES_URL: the SQLite checkpoints, copied with
#                                SQLite's online backup API (consistent while the server runs)
#   qdrant/snapshots/*.snapshot  ORCA_QDRANT_URL set: one Qdrant snapshot per collection
#                                (POST /collections/{name}/snapshots, then downloaded, checked
#                                against its sha256, and deleted from the server unless
#                                --keep-remote-snapshots); single-node Qdrant only
#   qdrant/local/                local mode: a copy of $ORCA_DATA_DIR/qdrant
#
# Local-mode Qdrant: qdrant-client locks its directory (an flock on .lock) for as long as a
# process has it open, i.e. while the server runs. The script takes that lock itself for the
# copy, so the copy is consistent and no server can open the store half-copied; if the lock
# is held (the server is running) it refuses, unless --force, which copies anyway: each
# collection's storage.sqlite is copied with SQLite's backup API, so each collection is
# consistent on its own, but an ingest running during the copy may be half in it. Stop the
# server (or make sure nothing is being ingested) for a fully consistent local backup.
#
# The parts are taken one after another, not at one instant: a thread or an ingest that
# runs during the backup can be in one part and not in another.
#
# Settings: the same ORCA_* variables as the service (common.sh explains how they are
# read); --env-file FILE reads them from FILE too (the environment wins, as in the service).
# Exit status: 0 complete, 1 any failure (nothing left behind), 2 bad usage.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORCA_SCRIPT=backup.sh
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"

usage() {
  sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo "See the header of $0 for what is saved and how."
}

env_file="" force=0 keep_remote=0 dest=""
while (($#)); do
  case $1 in
    --env-file) env_file=${2:?--env-file needs a file}; shift 2 ;;
    --env-file=*) env_file=${1#*=}; shift ;;
    --force) force=1; shift ;;
    --keep-remote-snapshots) keep_remote=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; echo "unknown option: $1" >&2; exit 2 ;;
    *) [[ -z $dest ]] || { usage >&2; exit 2; }; dest=$1; shift ;;
  esac
done

orca_resolve_settings "$env_file"

if [[ -z $dest ]]; then
  [[ -n $R_BACKUP_DIR ]] || orca_die "give a destination folder or set ORCA_BACKUP_DIR"
  dest="${R_BACKUP_DIR%/}/$(date -u +%Y%m%dT%H%M%SZ)"
fi
dest=${dest%/}
[[ -e $dest ]] && orca_die "$dest already exists; a backup never overwrites one"
work="$dest.partial"
mkdir -p "$(dirname "$dest")"
mkdir -m 0700 "$work" 2>/dev/null || orca_die "cannot create $work (exists, or no permission)"
parts="$work/.parts"
mkdir "$parts"
orca_tmp_init
tmp=$ORCA_TMP
finished=0
cleanup() {
  rm -rf "$tmp"
  if ((!finished)); then
    rm -rf "$work"
    orca_log "backup FAILED; nothing was kept"
  fi
}
trap cleanup EXIT

orca_log "backing up into $dest (settings: $R_SETTINGS_SOURCE)"

# --- checkpoints and the service's tables ------------------------------------------------

backup_postgres() {
  orca_require pg_dump pg_restore psql
  local server_version counts
  server_version=$(psql -X -At -v ON_ERROR_STOP=1 -d "$R_PG_URL" -c 'SHOW server_version' 2>"$tmp/psql.err") ||
    orca_die "cannot connect to PostgreSQL at $R_PG_SHOWN: $(head -c 300 "$tmp/psql.err")"
  # Exact row counts of every table, for the manifest (taken just before the dump; the dump
  # is its own snapshot, so they can differ by what the server wrote in between).
  counts=$(psql -X -At -v ON_ERROR_STOP=1 -d "$R_PG_URL" <<'SQL'
SELECT json_build_object(
  'tables', coalesce((
    SELECT json_object_agg(name, n ORDER BY name) FROM (
      SELECT format('%s.%s', table_schema, table_name) AS name,
             (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I',
               table_schema, table_name), false, true, '')))[1]::text::bigint AS n
      FROM information_schema.tables
      WHERE table_type = 'BASE TABLE'
        AND table_schema NOT IN ('pg_catalog', 'information_schema')
    ) AS t), '{}'::json),
  'threads', CASE WHEN to_regclass('checkpoints') IS NULL THEN 0 ELSE
    (xpath('/row/c/text()', query_to_xml(
      'SELECT count(DISTINCT thread_id) AS c FROM checkpoints', false, true, '')))[1]::text::bigint
  END)
SQL
  ) || orca_die "could not count the tables in $R_PG_SHOWN"
  orca_log "pg_dump of $R_PG_SHOWN (PostgreSQL $server_version)"
  PGAPPNAME=orca-backup pg_dump --format=custom --no-password --file="$work/postgres.dump" \
    --dbname="$R_PG_URL" 2>"$tmp/pg_dump.err" ||
    orca_die "pg_dump failed: $(head -c 500 "$tmp/pg_dump.err")"
  pg_restore --list "$work/postgres.dump" >/dev/null ||
    orca_die "the dump just written does not read back (pg_restore --list)"
  "$ORCA_PY" - "$parts/checkpoints.json" "$work/postgres.dump" "$server_version" \
    "$(pg_dump --version)" "$R_PG_SHOWN" "$counts" "$(orca_sha256 "$work/postgres.dump")" <<'PY'
import json, os, sys
from pathlib import Path
out, dump, server, tool, where, counts, sha = sys.argv[1:]
counts = json.loads(counts)
Path(out).write_text(json.dumps({
    "kind": "postgres", "file": "postgres.dump", "format": "pg_dump custom",
    "database": where, "server_version": server, "pg_dump": tool,
    "size": os.path.getsize(dump), "sha256": sha,
    "threads": counts["threads"], "tables": counts["tables"],
}))
PY
}

backup_sqlite() {
  if [[ ! -f $R_SQLITE_PATH ]]; then
    orca_log "no SQLite checkpoints at $R_SQLITE_PATH: nothing to save"
    echo '{"kind": "none"}' >"$parts/checkpoints.json"
    return
  fi
  orca_log "copying SQLite checkpoints $R_SQLITE_PATH"
  mkdir -p "$work/sqlite"
  "$ORCA_PY" - "$R_SQLITE_PATH" "$work/sqlite/checkpoints.sqlite" "$parts/checkpoints.json" <<'PY'
import hashlib, json, os, sqlite3, sys
from contextlib import closing
from pathlib import Path
src, dst, out = sys.argv[1:]
# The online backup API copies a consistent snapshot even while the server writes (WAL).
with closing(sqlite3.connect(src)) as source, closing(sqlite3.connect(dst)) as target:
    source.backup(target)
    # The copy inherits the live file's WAL mode; a rollback-journal file opens read-only
    # anywhere (restore.sh reads it so). The server switches its file back to WAL at start.
    target.execute("PRAGMA journal_mode=DELETE")
with closing(sqlite3.connect(dst)) as copy:
    if copy.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
        sys.exit("backup.sh: error: the SQLite copy fails its integrity check")
    names = [n for (n,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    rows = {n: copy.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in sorted(names)}
    threads = (
        copy.execute("SELECT count(DISTINCT thread_id) FROM checkpoints").fetchone()[0]
        if "checkpoints" in names
        else 0
    )
Path(out).write_text(json.dumps({
    "kind": "sqlite", "file": "sqlite/checkpoints.sqlite", "source": src,
    "sqlite_version": sqlite3.sqlite_version, "size": os.path.getsize(dst),
    "sha256": hashlib.sha256(Path(dst).read_bytes()).hexdigest(),
    "threads": threads, "tables": rows,
}))
PY
}

# --- Qdrant ------------------------------------------------------------------------------

backup_qdrant_remote() {
  orca_qdrant_init
  local version names name enc snapshot file index=0 expected size sha points
  version=$(q_json GET / | json_get 'd.get("version", "unknown")')
  names=$(q_json GET /collections | json_get '"\n".join(c["name"] for c in d["result"]["collections"])')
  mkdir -p "$work/qdrant/snapshots"
  : >"$parts/qdrant-collections.jsonl"
  # fd 3: nothing in the loop may read the list of names by accident.
  while IFS= read -r name <&3; do
    [[ -n $name ]] || continue
    index=$((index + 1))
    enc=$(urlencode "$name")
    file="qdrant/snapshots/$(printf '%03d' "$index")-$(printf '%s' "$name" | tr -c 'A-Za-z0-9_.-' '_' | head -c 60).snapshot"
    orca_log "Qdrant snapshot of collection '$name'"
    q_json POST "/collections/$enc/snapshots?wait=true" >"$tmp/snapshot.json"
    snapshot=$(json_get 'd["result"]["name"]' <"$tmp/snapshot.json")
    expected=$(json_get 'd["result"].get("checksum") or ""' <"$tmp/snapshot.json")
    q_request GET "/collections/$enc/snapshots/$(urlencode "$snapshot")" "$work/$file"
    sha=$(orca_sha256 "$work/$file")
    size=$(stat -c %s "$work/$file")
    [[ -z $expected || $expected == "$sha" ]] ||
      orca_die "snapshot $snapshot of '$name' arrived damaged (sha256 $sha, Qdrant says $expected)"
    points=$(q_json POST "/collections/$enc/points/count" -H 'content-type: application/json' \
      --data '{"exact": true}' | json_get 'd["result"]["count"]')
    if ((!keep_remote)); then
      # The copy is here now; the server keeps no copy to fill its disk. A failure to
      # delete is only a warning: the backup itself is complete.
      curl -sS --fail -X DELETE "${Q_AUTH[@]}" --connect-timeout 10 --max-time 120 -o /dev/null \
        "$R_Q_URL/collections/$enc/snapshots/$(urlencode "$snapshot")?wait=true" 2>"$tmp/curl.err" ||
        orca_warn "could not delete snapshot $snapshot from Qdrant: $(head -c 200 "$tmp/curl.err")"
    fi
    "$ORCA_PY" - "$name" "$file" "$snapshot" "$size" "$sha" "$points" \
      >>"$parts/qdrant-collections.jsonl" <<'PY'
import json, sys
name, file, snapshot, size, sha, points = sys.argv[1:]
print(json.dumps({"name": name, "file": file, "snapshot": snapshot, "size": int(size),
                  "sha256": sha, "points": int(points)}))
PY
  done 3<<<"$names"
  "$ORCA_PY" - "$parts/qdrant.json" "$parts/qdrant-collections.jsonl" "$R_Q_URL" "$version" "$keep_remote" <<'PY'
import json, sys
from pathlib import Path
out, lines, url, version, kept = sys.argv[1:]
collections = [json.loads(line) for line in open(lines) if line.strip()]
Path(out).write_text(json.dumps({
    "mode": "remote", "url": url, "server_version": version,
    "snapshots_kept_on_server": kept == "1", "collections": collections,
}))
PY
  rm "$parts/qdrant-collections.jsonl"
}

backup_qdrant_local() {
  orca_log "copying local Qdrant $R_QDRANT_PATH"
  local status=0
  "$ORCA_PY" - "$R_QDRANT_PATH" "$work/qdrant/local" "$parts/qdrant.json" "$force" <<'PY' || status=$?
import errno, fcntl, json, os, shutil, sqlite3, sys
from contextlib import closing
from pathlib import Path
src, dst, out, force = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
if not (src / "meta.json").is_file():
    print(f"backup.sh: no local Qdrant at {src}: nothing to save", file=sys.stderr)
    Path(out).write_text(json.dumps({"mode": "local", "path": str(src), "collections": []}))
    sys.exit(0)
locked_by_other = False
lock = src / ".lock"
fd = os.open(lock, os.O_RDONLY) if lock.exists() else None
if fd is not None:
    try:
        # qdrant-client takes an exclusive flock on .lock (portalocker, non-blocking); any
        # lock held here makes a server that starts meanwhile fail fast instead of opening a
        # store that is being copied.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        locked_by_other = True
if locked_by_other and not force:
    print(
        f"backup.sh: error: {src} is locked by a running process (the server, in local mode); "
        "stop it for a consistent copy, or pass --force to copy it anyway "
        "(each collection consistent, an ingest in progress may be half in it)",
        file=sys.stderr,
    )
    sys.exit(4)
if locked_by_other:
    print("backup.sh: warning: copying a local Qdrant that the server holds (--force)",
          file=sys.stderr)
collections = {}
for path in sorted(src.rglob("*")):
    relative = path.relative_to(src)
    target = dst / relative
    if path.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        continue
    # Not the lock, a half-written meta.json.tmp, or SQLite's journals: the backup API
    # below copies committed pages only, and a stale journal beside a copy would be replayed.
    if path.name == ".lock" or path.name.endswith((".tmp", "-journal", "-wal", "-shm")):
        continue
    target.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".sqlite":
        with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
            collections[relative.parent.name] = copy.execute(
                "SELECT count(*) FROM points"
            ).fetchone()[0]
    else:
        shutil.copy2(path, target)
names = sorted(json.loads((dst / "meta.json").read_text()).get("collections", {}))
try:
    from importlib.metadata import version
    client_version = version("qdrant-client")
except Exception:
    client_version = "unknown"
Path(out).write_text(json.dumps({
    "mode": "local", "path": str(src), "dir": "qdrant/local", "qdrant_client": client_version,
    "server_was_running": locked_by_other,
    "collections": [{"name": n, "points": collections.get(n, 0)} for n in names],
}))
PY
  ((status == 0)) || exit 1
}

# Qdrant first: a local store held by a running server is refused before a long dump.
if [[ -n $R_Q_URL ]]; then backup_qdrant_remote; else backup_qdrant_local; fi
if [[ -n $R_PG_URL ]]; then backup_postgres; else backup_sqlite; fi

# --- manifest ----------------------------------------------------------------------------

"$ORCA_PY" - "$work" "$R_APP_VERSION" "$R_SETTINGS_SOURCE" <<'PY'
import json, os, platform, socket, sys, datetime
from pathlib import Path
work, app_version, source = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
parts = work / ".parts"
manifest = {
    "format": 1,
    "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "host": socket.gethostname(),
    "citadel_orca": app_version,
    "python": platform.python_version(),
    "settings": source,
    "checkpoints": json.loads((parts / "checkpoints.json").read_text()),
    "qdrant": json.loads((parts / "qdrant.json").read_text()),
}
(work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
PY
rm -rf "$parts"
mv "$work" "$dest"
finished=1
orca_log "backup complete: $dest ($(du -sh "$dest" | cut -f1))"
echo "$dest"
