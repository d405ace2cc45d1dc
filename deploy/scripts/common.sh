# shellcheck shell=bash
# Shared by backup.sh and restore.sh (sourced, never run): messages, and the settings the
# service itself would use.
#
# Settings are resolved by citadel-orca's own `server.settings.load_settings()` when an
# interpreter that can import it is found, so profile defaults (ORCA_PROFILE=production),
# `.env` in the working directory and validation are exactly the service's. Interpreters
# tried, first match wins: $ORCA_PYTHON, $ORCA_DEPLOY_ROOT/current/venv/bin/python
# (deploy.sh's layout, ORCA_DEPLOY_ROOT default /opt/citadel-orca), the checkout's .venv
# next to these scripts, python3. Without citadel-orca, the raw ORCA_* variables are read
# (from the environment, then the env file), which is refused for a profile other than
# `development` because its defaults live in the package.
#
# As in the service, a variable set in the environment wins over the same one in the file.

ORCA_SCRIPT=${ORCA_SCRIPT:-$(basename "$0")}

orca_log() { printf '%s: %s\n' "$ORCA_SCRIPT" "$*" >&2; }
orca_warn() { printf '%s: warning: %s\n' "$ORCA_SCRIPT" "$*" >&2; }
orca_die() {
  printf '%s: error: %s\n' "$ORCA_SCRIPT" "$*" >&2
  exit 1
}
orca_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || orca_die "'$tool' is not installed (Debian: $(orca_package_of "$tool"))"
  done
}
orca_package_of() {
  case $1 in
    pg_dump | pg_restore | psql) echo "apt-get install postgresql-client, of the server's major version or newer" ;;
    curl) echo "apt-get install curl" ;;
    python3) echo "apt-get install python3" ;;
    *) echo "install $1" ;;
  esac
}

# The interpreter that resolves settings (and runs the scripts' small Python helpers, which
# use the standard library only).
orca_find_python() {
  local here candidate
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  for candidate in \
    "${ORCA_PYTHON:-}" \
    "${ORCA_DEPLOY_ROOT:-/opt/citadel-orca}/current/venv/bin/python" \
    "$here/../../.venv/bin/python"; do
    if [[ -n $candidate && -x $candidate ]] && "$candidate" -c 'import server.settings' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  [[ -n ${ORCA_PYTHON:-} ]] && orca_die "ORCA_PYTHON=$ORCA_PYTHON cannot import server.settings"
  command -v python3 >/dev/null || orca_die "python3 is not installed ($(orca_package_of python3))"
  command -v python3
}

# Set R_* shell variables from the settings (env file optional):
#   R_PG_URL (libpq URL without its password), PGPASSWORD (exported when the URL had one),
#   R_PG_SHOWN (host:port/db, for messages), R_Q_URL, R_Q_KEY, R_DATA_DIR, R_SQLITE_PATH,
#   R_QDRANT_PATH, R_PORT, R_APP_VERSION, R_SETTINGS_SOURCE, R_BACKUP_DIR (ORCA_BACKUP_DIR).
# The password travels in PGPASSWORD so that it is not in any command line (`ps`).
orca_resolve_settings() {
  local env_file=${1:-} resolved
  ORCA_PY=$(orca_find_python)
  resolved=$("$ORCA_PY" -c "$ORCA_RESOLVER" "$env_file") || exit 1
  eval "$resolved"
  [[ -n ${R_PG_PASSWORD:-} ]] && export PGPASSWORD=$R_PG_PASSWORD
  unset R_PG_PASSWORD
}

ORCA_RESOLVER=$(
  cat <<'PY'
import os, shlex, sys
from pathlib import Path

env_file = sys.argv[1] or None
if env_file and not Path(env_file).is_file():
    sys.exit(f"error: --env-file {env_file}: no such file")


def parse_env_file(path):
    values = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[key.strip().upper()] = value
    return values


try:
    from server.settings import SettingsError, load_settings
except ImportError:
    load_settings = None

if load_settings is not None:
    try:
        settings = load_settings(**({"_env_file": env_file} if env_file else {}))
    except SettingsError as exc:
        sys.exit(f"error: {exc}")
    pg = str(settings.postgres_url) if settings.postgres_url else ""
    q_url = str(settings.qdrant_url) if settings.qdrant_url else ""
    q_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else ""
    data_dir, sqlite_path, qdrant_path = (
        settings.data_dir, settings.sqlite_path, settings.qdrant_path
    )
    port = settings.port
    try:
        from importlib.metadata import version
        app_version = version("citadel-orca")
    except Exception:
        app_version = "unknown"
    source = "citadel-orca settings"
else:
    values = {}
    default_env = Path(".env")
    if env_file or default_env.is_file():
        values.update(parse_env_file(env_file or default_env))
    values.update({k.upper(): v for k, v in os.environ.items() if k.upper().startswith("ORCA_")})
    profile = values.get("ORCA_PROFILE", "development") or "development"
    if profile != "development":
        sys.exit(
            f"error: ORCA_PROFILE={profile} takes its defaults from citadel-orca, which this "
            "python cannot import; set ORCA_PYTHON to the service's venv python"
        )
    pg = values.get("ORCA_POSTGRES_URL", "")
    q_url = values.get("ORCA_QDRANT_URL", "")
    q_key = values.get("ORCA_QDRANT_API_KEY", "")
    data_dir = Path(values.get("ORCA_DATA_DIR") or "./var")
    sqlite_path, qdrant_path = data_dir / "checkpoints.sqlite", data_dir / "qdrant"
    port = int(values.get("ORCA_PORT") or 8000)
    app_version = "unknown"
    source = "ORCA_* variables (citadel-orca not importable)"

# Not a service setting: where backup.sh puts dated folders, from the environment or the file.
backup_dir = os.environ.get("ORCA_BACKUP_DIR") or (
    parse_env_file(env_file).get("ORCA_BACKUP_DIR", "") if env_file else ""
)

password = shown = ""
if pg:
    scheme, sep, rest = pg.partition("://")
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    user, colon, secret = userinfo.partition(":")
    if colon:
        from urllib.parse import unquote

        password = unquote(secret)
    pg = f"{scheme}{sep}{user}{at if user else ''}{hosts}{slash}{tail}"
    shown = f"{hosts}/{tail.split('?')[0]}"

out = {
    "R_PG_URL": pg,
    "R_PG_PASSWORD": password,
    "R_PG_SHOWN": shown,
    "R_Q_URL": q_url.rstrip("/"),
    "R_Q_KEY": q_key,
    "R_DATA_DIR": str(Path(data_dir).resolve()),
    "R_SQLITE_PATH": str(Path(sqlite_path).resolve()),
    "R_QDRANT_PATH": str(Path(qdrant_path).resolve()),
    "R_PORT": str(port),
    "R_APP_VERSION": app_version,
    "R_SETTINGS_SOURCE": source,
    "R_BACKUP_DIR": backup_dir,
}
for key, value in out.items():
    print(f"{key}={shlex.quote(value)}")
PY
)

# sha256 of a file, hex.
orca_sha256() { sha256sum "$1" | cut -d' ' -f1; }

# A private scratch folder, $ORCA_TMP; the caller's EXIT trap removes it.
orca_tmp_init() { ORCA_TMP=$(mktemp -d); }

# --- Qdrant's REST API (remote mode) ---------------------------------------------------

# Call once before q_request: checks curl, puts the API key (if any) in a private header
# file, so that it is never on curl's command line.
orca_qdrant_init() {
  orca_require curl
  Q_AUTH=()
  if [[ -n $R_Q_KEY ]]; then
    printf 'api-key: %s\n' "$R_Q_KEY" >"$ORCA_TMP/qdrant-headers"
    Q_AUTH=(-H "@$ORCA_TMP/qdrant-headers")
  fi
}

# q_request METHOD PATH OUTPUT [curl args...]: the response body goes to OUTPUT; any
# transport error or non-2xx status ends the script with Qdrant's message.
q_request() {
  local method=$1 path=$2 output=$3 status
  shift 3
  status=$(curl -sS -X "$method" "${Q_AUTH[@]}" --connect-timeout 10 \
    --max-time "${ORCA_QDRANT_TIMEOUT:-1800}" -o "$output" -w '%{http_code}' "$@" \
    "$R_Q_URL$path" 2>"$ORCA_TMP/curl.err") ||
    orca_die "cannot reach Qdrant at $R_Q_URL ($method $path): $(head -c 300 "$ORCA_TMP/curl.err")"
  [[ $status == 2?? ]] ||
    orca_die "Qdrant answered $status to $method $path: $(head -c 300 "$output")"
}
q_json() { # METHOD PATH [curl args...] -> body on stdout
  local method=$1 path=$2
  shift 2
  q_request "$method" "$path" "$ORCA_TMP/body.json" "$@"
  cat "$ORCA_TMP/body.json"
}
json_get() { # EXPR: evaluate a Python expression over `d` (the JSON on stdin), print it
  "$ORCA_PY" -c "import json, sys; d = json.load(sys.stdin); v = $1; print(v if isinstance(v, str) else json.dumps(v))"
}
urlencode() { "$ORCA_PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

