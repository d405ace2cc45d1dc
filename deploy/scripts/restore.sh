#!/usr/bin/env bash
# Put back a backup made by backup.sh, overwriting the current state.
#
#   restore.sh [--env-file FILE] [--force] --yes BACKUP_DIR
#
# Without --yes it only prints what it would overwrite. It restores into what the current
# settings point at (the same ORCA_* variables as the service, see common.sh):
#
#   postgres.dump        `pg_restore --clean --if-exists --single-transaction --no-owner` into
#                        ORCA_POSTGRES_URL: the dumped tables are dropped and re-created in one
#                        transaction (all or nothing); tables the dump does not hold are left
#   sqlite/…             copied over $ORCA_DATA_DIR/checkpoints.sqlite (SQLite backup API)
#   qdrant/snapshots/…   each collection uploaded to ORCA_QDRANT_URL with
#                        POST /collections/{name}/snapshots/upload?priority=snapshot, which
#                        replaces (or creates) the collection; other collections are left
#   qdrant/local/        replaces $ORCA_DATA_DIR/qdrant (the old one is removed on success)
#
# Before anything is overwritten it checks every file against the sha256 in manifest.json,
# that the backup's kinds match the settings (a PostgreSQL dump needs ORCA_POSTGRES_URL, a
# Qdrant snapshot needs ORCA_QDRANT_URL, and the other way round), and that the server is
# stopped: stop it first (`systemctl stop orca`). A server answering on 127.0.0.1:$ORCA_PORT
# makes it refuse unless --force; a local Qdrant directory locked by a running process is
# always refused (that process would keep, and write back, its own copy). Afterwards it
# compares thread and point counts with the manifest.
#
# Exit status: 0 restored, 1 refused or failed, 2 bad usage.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORCA_SCRIPT=restore.sh
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"

usage() {
  sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo "See the header of $0 for what is restored and the checks made first."
}

env_file="" force=0 yes=0 backup=""
while (($#)); do
  case $1 in
    --env-file) env_file=${2:?--env-file needs a file}; shift 2 ;;
    --env-file=*) env_file=${1#*=}; shift ;;
    --force) force=1; shift ;;
    --yes) yes=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; echo "unknown option: $1" >&2; exit 2 ;;
    *) [[ -z $backup ]] || { usage >&2; exit 2; }; backup=$1; shift ;;
  esac
done
[[ -n $backup ]] || { usage >&2; exit 2; }
backup=${backup%/}
[[ -f $backup/manifest.json ]] || orca_die "$backup has no manifest.json: not a backup made by backup.sh"
[[ $backup != *.partial ]] || orca_die "$backup is an unfinished backup"

orca_resolve_settings "$env_file"
orca_tmp_init
trap 'rm -rf "$ORCA_TMP"' EXIT

# The manifest as shell variables (M_*), and one line per Qdrant collection:
# name<TAB>file<TAB>sha256<TAB>points.
eval "$("$ORCA_PY" - "$backup/manifest.json" "$ORCA_TMP/collections.tsv" <<'PY'
import json, shlex, sys
manifest = json.load(open(sys.argv[1]))
if manifest.get("format") != 1:
    sys.exit(f"restore.sh: error: unknown manifest format {manifest.get('format')!r}")
ck, q = manifest["checkpoints"], manifest["qdrant"]
values = {
    "M_CREATED": manifest["created_at"],
    "M_CK_KIND": ck["kind"],
    "M_CK_FILE": ck.get("file", ""),
    "M_CK_SHA": ck.get("sha256", ""),
    "M_CK_THREADS": str(ck.get("threads", 0)),
    "M_Q_MODE": q["mode"],
    "M_Q_DIR": q.get("dir", ""),
    "M_Q_COUNT": str(len(q["collections"])),
}
with open(sys.argv[2], "w") as out:
    for c in q["collections"]:
        if "\t" in c["name"] or "\n" in c["name"]:
            sys.exit(f"restore.sh: error: unsupported collection name {c['name']!r}")
        out.write(f"{c['name']}\t{c.get('file', '')}\t{c.get('sha256', '')}\t{c['points']}\n")
for key, value in values.items():
    print(f"{key}={shlex.quote(value)}")
PY
)"

# --- what would be overwritten -----------------------------------------------------------

case $M_CK_KIND in
  postgres) ck_target="PostgreSQL $R_PG_SHOWN" ;;
  sqlite) ck_target="SQLite $R_SQLITE_PATH" ;;
  none) ck_target="" ;;
  *) orca_die "unknown checkpoint kind '$M_CK_KIND' in the manifest" ;;
esac
if [[ $M_Q_MODE == remote ]]; then q_target="Qdrant $R_Q_URL"; else q_target="local Qdrant $R_QDRANT_PATH"; fi

orca_log "backup $backup, made $M_CREATED"
if [[ -n $ck_target ]]; then
  orca_log "  checkpoints ($M_CK_KIND, $M_CK_THREADS threads) -> $ck_target"
else
  orca_log "  checkpoints: none in the backup; left as they are"
fi
orca_log "  Qdrant ($M_Q_MODE, $M_Q_COUNT collections) -> $q_target"
((yes)) || orca_die "this overwrites the above; run again with --yes to restore"

# --- checks, before anything is touched --------------------------------------------------

[[ $M_CK_KIND != postgres || -n $R_PG_URL ]] ||
  orca_die "the backup holds a PostgreSQL dump but ORCA_POSTGRES_URL is not set"
[[ $M_CK_KIND != sqlite || -z $R_PG_URL ]] ||
  orca_die "the backup holds SQLite checkpoints but ORCA_POSTGRES_URL is set (the service would not read them)"
[[ $M_Q_MODE != remote || -n $R_Q_URL ]] ||
  orca_die "the backup holds Qdrant server snapshots but ORCA_QDRANT_URL is not set"
[[ $M_Q_MODE != local || -z $R_Q_URL ]] ||
  orca_die "the backup holds a local-mode Qdrant but ORCA_QDRANT_URL is set (the service would not read it)"

if [[ -n $M_CK_FILE ]]; then
  [[ -f $backup/$M_CK_FILE ]] || orca_die "$backup/$M_CK_FILE is missing"
  [[ $(orca_sha256 "$backup/$M_CK_FILE") == "$M_CK_SHA" ]] ||
    orca_die "$backup/$M_CK_FILE does not match its sha256 in the manifest (damaged?)"
fi
if [[ $M_Q_MODE == remote ]]; then
  while IFS=$'\t' read -r name file sha points; do
    [[ -f $backup/$file ]] || orca_die "$backup/$file (collection '$name') is missing"
    [[ $(orca_sha256 "$backup/$file") == "$sha" ]] ||
      orca_die "$backup/$file (collection '$name') does not match its sha256 (damaged?)"
  done <"$ORCA_TMP/collections.tsv"
elif ((M_Q_COUNT > 0)); then
  [[ -f $backup/$M_Q_DIR/meta.json ]] || orca_die "$backup/$M_Q_DIR/meta.json is missing"
fi

if command -v curl >/dev/null &&
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$R_PORT/health" 2>/dev/null; then
  if ((force)); then
    orca_warn "a server answers on 127.0.0.1:$R_PORT; restoring under it anyway (--force)"
  else
    orca_die "a server answers on 127.0.0.1:$R_PORT; stop it first (systemctl stop orca), or pass --force"
  fi
fi

# --- Qdrant ------------------------------------------------------------------------------

restore_qdrant_remote() {
  orca_qdrant_init
  local name file sha points enc now
  while IFS=$'\t' read -r name file sha points <&3; do
    enc=$(urlencode "$name")
    orca_log "uploading collection '$name' ($points points) to $R_Q_URL"
    q_request POST "/collections/$enc/snapshots/upload?priority=snapshot&wait=true&checksum=$sha" \
      "$ORCA_TMP/upload.json" -F "snapshot=@$backup/$file"
    now=$(q_json POST "/collections/$enc/points/count" -H 'content-type: application/json' \
      --data '{"exact": true}' | json_get 'd["result"]["count"]')
    # The manifest's count was taken just after the snapshot; writes in between differ.
    [[ $now == "$points" ]] ||
      orca_warn "collection '$name' holds $now points after the restore; the backup counted $points"
  done 3<"$ORCA_TMP/collections.tsv"
}

restore_qdrant_local() {
  if ((M_Q_COUNT == 0)); then
    orca_log "the backup holds no local Qdrant collections; $R_QDRANT_PATH left as it is"
    return
  fi
  orca_log "replacing local Qdrant $R_QDRANT_PATH"
  "$ORCA_PY" - "$backup/$M_Q_DIR" "$R_QDRANT_PATH" "$ORCA_TMP/collections.tsv" <<'PY' || exit 1
import errno, fcntl, os, shutil, sqlite3, sys, time
from contextlib import closing
from pathlib import Path
from urllib.request import pathname2url
src, dst, listing = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
expected = {}
for line in open(listing):
    name, _, _, points = line.rstrip("\n").split("\t")
    expected[name] = int(points)
lock_fd = None
if (dst / ".lock").exists():
    lock_fd = os.open(dst / ".lock", os.O_RDONLY)
    try:
        # Held until the new directory is in place: no server opens the old one meanwhile.
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        sys.exit(
            f"restore.sh: error: {dst} is locked by a running process (the server, in local "
            "mode); stop it first: it would keep, and write back, its own copy"
        )
aside = dst.with_name(f"{dst.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
if dst.exists():
    dst.rename(aside)
try:
    shutil.copytree(src, dst)
    for name, points in expected.items():
        storage = dst / "collection" / name / "storage.sqlite"
        with closing(sqlite3.connect(f"file:{pathname2url(str(storage))}?mode=ro", uri=True)) as db:
            found = db.execute("SELECT count(*) FROM points").fetchone()[0]
        if found != points:
            raise RuntimeError(f"collection {name!r} has {found} points, the backup {points}")
except BaseException as exc:
    shutil.rmtree(dst, ignore_errors=True)
    if aside.exists():
        aside.rename(dst)
    sys.exit(f"restore.sh: error: local Qdrant not restored ({exc}); {dst} is as it was")
shutil.rmtree(aside, ignore_errors=True)
PY
}

# --- checkpoints -------------------------------------------------------------------------

restore_postgres() {
  orca_require pg_restore psql
  orca_log "pg_restore into $R_PG_SHOWN"
  PGAPPNAME=orca-restore pg_restore --clean --if-exists --single-transaction --exit-on-error \
    --no-owner --no-password --dbname="$R_PG_URL" "$backup/$M_CK_FILE" 2>"$ORCA_TMP/pg_restore.err" ||
    orca_die "pg_restore failed, nothing was changed (one transaction): $(head -c 600 "$ORCA_TMP/pg_restore.err")"
  local threads
  threads=$(psql -X -At -v ON_ERROR_STOP=1 -d "$R_PG_URL" -c \
    "SELECT CASE WHEN to_regclass('checkpoints') IS NULL THEN 0 ELSE (SELECT count(DISTINCT thread_id) FROM checkpoints) END")
  # The manifest counted just before the dump; a thread started in between differs.
  [[ $threads == "$M_CK_THREADS" ]] ||
    orca_warn "$threads threads after the restore; the backup counted $M_CK_THREADS"
}

restore_sqlite() {
  orca_log "copying checkpoints over $R_SQLITE_PATH"
  "$ORCA_PY" - "$backup/$M_CK_FILE" "$R_SQLITE_PATH" "$M_CK_THREADS" <<'PY' || exit 1
import sqlite3, sys
from contextlib import closing
from pathlib import Path
from urllib.request import pathname2url
src, dst, threads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
dst.parent.mkdir(parents=True, exist_ok=True)
# Through SQLite's backup API rather than a file copy: the target's -wal and -shm files, if
# any, are dealt with by SQLite instead of going stale beside a replaced file.
with closing(sqlite3.connect(f"file:{pathname2url(src)}?mode=ro", uri=True)) as source:
    with closing(sqlite3.connect(dst)) as target:
        source.backup(target)
        found = target.execute("SELECT count(DISTINCT thread_id) FROM checkpoints").fetchone()[0]
if found != threads:
    sys.exit(f"restore.sh: error: {found} threads after the restore, the backup has {threads}")
PY
}

if [[ $M_Q_MODE == remote ]]; then restore_qdrant_remote; else restore_qdrant_local; fi
case $M_CK_KIND in
  postgres) restore_postgres ;;
  sqlite) restore_sqlite ;;
  none) ;;
esac
orca_log "restore complete from $backup"
