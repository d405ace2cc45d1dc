#!/usr/bin/env bash
# Deploy a release of Citadel Orca with a health check, rolling back if it is not healthy.
#
#   deploy.sh [--env-file FILE] VERSION
#
# VERSION is a wheel (a path ending in .whl) or a git ref (tag, branch, commit) of
# $ORCA_GIT_REPO, by default the checkout these scripts are in. Steps:
#
#   1. install it into a new venv, $ORCA_DEPLOY_ROOT/releases/<UTC time>-<version>/venv, and
#      check that its `orca --help` runs; a failure here changes nothing that is live;
#   2. point $ORCA_DEPLOY_ROOT/current at it (an atomic rename of the symlink), so the unit's
#      ExecStart=$ORCA_DEPLOY_ROOT/current/venv/bin/orca serve runs the new release;
#   3. restart the service ($ORCA_RESTART_CMD) and poll $ORCA_HEALTH_URL until it answers 200;
#   4. if the restart fails or the health check does not pass within $ORCA_HEALTH_TIMEOUT
#      seconds: mark the release FAILED, point `current` back at the previous release, restart
#      and check health again. Ctrl-C after step 2 rolls back the same way.
#
# On success the oldest releases beyond $ORCA_KEEP_RELEASES are deleted (never the current
# or the previous one). To go back to an older release later, deploy its wheel or ref again.
#
# Environment (defaults):
#   ORCA_DEPLOY_ROOT      /opt/citadel-orca
#   ORCA_RESTART_CMD      systemctl restart orca.service   (run with bash -c)
#   ORCA_HEALTH_URL       http://127.0.0.1:$ORCA_PORT/health/detailed (ORCA_PORT: the
#                         environment, else --env-file, else 8000)
#   ORCA_HEALTH_TIMEOUT   180 seconds (the local models take a while to load)
#   ORCA_HEALTH_INTERVAL  2 seconds between polls
#   ORCA_DEPLOY_PYTHON    python3, the interpreter the venv is made from
#   ORCA_DEPLOY_EXTRAS    extras to install, e.g. `local` for the in-process models
#   ORCA_PIP_ARGS         more pip arguments, e.g. `--no-index --find-links /srv/wheels`
#   ORCA_GIT_REPO         the repository git refs are taken from
#   ORCA_KEEP_RELEASES    5
#
# Exit status: 0 deployed and healthy; 1 not installed (nothing live changed); 2 bad usage;
# 3 unhealthy, rolled back, the previous release is healthy; 4 unhealthy and the rollback
# is unhealthy too, or there was no previous release to go back to.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=deploy.sh

log() { printf '%s: %s\n' "$SCRIPT" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$SCRIPT" "$*" >&2
  exit "${2:-1}"
}
usage() { sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

env_file="" version=""
while (($#)); do
  case $1 in
    --env-file) env_file=${2:?--env-file needs a file}; shift 2 ;;
    --env-file=*) env_file=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; echo "unknown option: $1" >&2; exit 2 ;;
    *) [[ -z $version ]] || { usage >&2; exit 2; }; version=$1; shift ;;
  esac
done
[[ -n $version ]] || { usage >&2; exit 2; }

export ORCA_DEPLOY_ROOT=${ORCA_DEPLOY_ROOT:-/opt/citadel-orca}
ROOT=${ORCA_DEPLOY_ROOT%/}
RESTART_CMD=${ORCA_RESTART_CMD:-systemctl restart orca.service}
HEALTH_TIMEOUT=${ORCA_HEALTH_TIMEOUT:-180}
HEALTH_INTERVAL=${ORCA_HEALTH_INTERVAL:-2}
KEEP=${ORCA_KEEP_RELEASES:-5}
PYTHON=${ORCA_DEPLOY_PYTHON:-python3}
read -r -a PIP_ARGS <<<"${ORCA_PIP_ARGS:-}"
EXTRAS=${ORCA_DEPLOY_EXTRAS:+[$ORCA_DEPLOY_EXTRAS]}
for tool in curl flock "$PYTHON"; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed"
done

if [[ -z ${ORCA_HEALTH_URL:-} ]]; then
  port=${ORCA_PORT:-}
  if [[ -z $port && -n $env_file ]]; then
    [[ -f $env_file ]] || die "--env-file $env_file: no such file" 2
    port=$(sed -n 's/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}ORCA_PORT[[:space:]]*=[[:space:]]*["'\'']\{0,1\}\([0-9]\{1,5\}\).*/\2/p' "$env_file" | tail -n1)
  fi
  ORCA_HEALTH_URL="http://127.0.0.1:${port:-8000}/health/detailed"
fi

# --- what to install ---------------------------------------------------------------------

if [[ $version == *.whl ]]; then
  [[ -f $version ]] || die "no such wheel: $version" 2
  wheel=$(cd "$(dirname "$version")" && pwd)/$(basename "$version")
  # name-version-...whl (PEP 427)
  label=$(basename "$wheel" | cut -d- -f2)
  source_desc="wheel $(basename "$wheel")"
else
  repo=${ORCA_GIT_REPO:-$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || true)}
  [[ -n $repo ]] || die "$version is not a .whl file and there is no git repository (set ORCA_GIT_REPO)" 2
  commit=$(git -C "$repo" rev-parse --verify --quiet "$version^{commit}") ||
    die "'$version' is neither a wheel nor a git ref of $repo" 2
  label=$(git -C "$repo" describe --tags --always "$commit" 2>/dev/null || echo "${commit:0:12}")
  source_desc="git $version ($commit) of $repo"
fi
label=$(printf '%s' "$label" | tr -c 'A-Za-z0-9._+-' '_')

mkdir -p "$ROOT/releases"
exec 9>"$ROOT/.deploy.lock"
flock -n 9 || die "another deploy is running (lock $ROOT/.deploy.lock)"

id="$(date -u +%Y%m%dT%H%M%SZ)-$label"
n=1
while [[ -e $ROOT/releases/$id ]]; do id="$(date -u +%Y%m%dT%H%M%SZ)-$label-$((++n))"; done
release="$ROOT/releases/$id"
previous=$(readlink "$ROOT/current" 2>/dev/null || true)

state=installing
on_exit() {
  local status=$?
  if [[ $state == installing ]]; then
    rm -rf "$release"
    ((status == 0)) || log "not deployed: $source_desc; nothing live was changed"
  fi
}
trap on_exit EXIT

# --- 1. install --------------------------------------------------------------------------

log "installing $source_desc into $release"
mkdir "$release"
"$PYTHON" -m venv "$release/venv" || die "could not create a venv with $PYTHON"
if [[ -n ${wheel:-} ]]; then
  target="$wheel$EXTRAS"
else
  mkdir "$release/src"
  git -C "$repo" archive --format=tar "$commit" | tar -x -C "$release/src"
  target="$release/src$EXTRAS"
fi
"$release/venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
  "${PIP_ARGS[@]}" "$target" >"$release/pip.log" 2>&1 ||
  die "pip install failed: $(tail -n 5 "$release/pip.log")"
rm -rf "$release/src"
[[ -x $release/venv/bin/orca ]] || die "the release has no 'orca' command"
"$release/venv/bin/orca" --help >/dev/null 2>"$release/smoke.log" ||
  die "the release's 'orca --help' fails: $(tail -n 3 "$release/smoke.log")"
installed=$("$release/venv/bin/python" -c \
  'from importlib.metadata import version; print(version("citadel-orca"))' 2>/dev/null || echo unknown)
"$PYTHON" - "$release/release.json" "$id" "$installed" "$source_desc" "${previous#releases/}" <<'PY'
import datetime, json, sys
out, rid, installed, source, previous = sys.argv[1:]
json.dump({"id": rid, "version": installed, "source": source, "previous": previous or None,
           "installed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
          open(out, "w"), indent=2)
PY

# --- 2-4. switch, restart, check, roll back ----------------------------------------------

point_current_at() { # releases/<id>, relative so the tree can move
  ln -sfn "$1" "$ROOT/.current.new"
  mv -T "$ROOT/.current.new" "$ROOT/current"
}

restart() {
  log "restarting: $RESTART_CMD"
  # Without the lock's descriptor: a process the command leaves running would hold the
  # deploy lock for as long as it lives.
  bash -c "$RESTART_CMD" 9>&-
}

healthy() { # poll until 200 or the timeout
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) code=000
  while ((SECONDS < deadline)); do
    code=$(curl -s -o "$release/health.json" -w '%{http_code}' --max-time 5 "$ORCA_HEALTH_URL" 2>/dev/null) || code=000
    [[ $code == 200 ]] && return 0
    sleep "$HEALTH_INTERVAL"
  done
  log "no 200 from $ORCA_HEALTH_URL within ${HEALTH_TIMEOUT}s (last: $code $(head -c 300 "$release/health.json" 2>/dev/null))"
  return 1
}

roll_back() { # reason
  state=rolling-back
  printf '%s\n' "$1" >"$release/FAILED"
  if [[ -z $previous ]]; then
    log "ROLLBACK IMPOSSIBLE: there is no previous release; current still points at $id"
    exit 4
  fi
  log "rolling back to $previous"
  point_current_at "$previous"
  if restart && healthy; then
    log "rolled back: $previous is live and healthy; $id is marked FAILED"
    exit 3
  fi
  log "ROLLBACK UNHEALTHY: $previous is live but not healthy; look at the service now"
  exit 4
}

on_signal() {
  trap - INT TERM
  if [[ $state == switched ]]; then
    roll_back "interrupted"
  fi
  exit 130
}
trap on_signal INT TERM

log "switching $ROOT/current to releases/$id (was ${previous:-nothing})"
point_current_at "releases/$id"
state=switched
if ! restart; then
  roll_back "restart command failed"
fi
log "waiting for $ORCA_HEALTH_URL (up to ${HEALTH_TIMEOUT}s)"
if ! healthy; then
  roll_back "health check failed"
fi
state=deployed

# Old releases beyond KEEP go, oldest first (names sort by time); current and previous stay.
mapfile -t releases < <(find "$ROOT/releases" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
excess=$((${#releases[@]} - KEEP))
for old in "${releases[@]}"; do
  ((excess > 0)) || break
  [[ releases/$old == "releases/$id" || releases/$old == "$previous" ]] && continue
  rm -rf "${ROOT:?}/releases/$old"
  excess=$((excess - 1))
done

log "deployed $id ($installed) and healthy"
echo "$id"
