"""deploy/scripts/deploy.sh: a healthy release goes live, an unhealthy one is rolled back.

No systemd: ORCA_RESTART_CMD is a small script that stops the server it started last and
starts `$ORCA_DEPLOY_ROOT/current/venv/bin/orca serve`, like `systemctl restart` of a unit
whose ExecStart goes through the `current` symlink. The releases are tiny wheels, built
here, of a stand-in `citadel-orca` whose `orca serve` answers /health/detailed on loopback
with 200, or 503 for a broken release, so the code that answers the health check is the
code the script installed. Everything installs offline (`pip --no-index`, no dependencies).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).parents[2] / "deploy" / "scripts" / "deploy.sh"

APP = '''\
"""Stand-in for citadel-orca: `orca serve` answers /health/detailed."""
import http.server, json, os, sys

VERSION = {version!r}
STATUS = {status}


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"status": "ok" if STATUS == 200 else "down", "version": VERSION}})
        self.send_response(STATUS if self.path == "/health/detailed" else 200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def main():
    {broken}
    if sys.argv[1:] == ["serve"]:
        port = int(os.environ["ORCA_PORT"])
        http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
    print("usage: orca serve")
'''

RESTART = """\
#!/usr/bin/env bash
# A stand-in for `systemctl restart orca.service`.
set -euo pipefail
readlink "$ORCA_DEPLOY_ROOT/current" >>"$FAKE_STATE/restarts.log"
if [[ -f $FAKE_STATE/server.pid ]]; then
  pid=$(cat "$FAKE_STATE/server.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
fi
nohup "$ORCA_DEPLOY_ROOT/current/venv/bin/orca" serve </dev/null >>"$FAKE_STATE/server.log" 2>&1 &
echo $! >"$FAKE_STATE/server.pid"
"""


def build_wheel(folder: Path, version: str, *, status: int = 200, broken: bool = False) -> Path:
    """Write a wheel of `citadel-orca` `version` by hand (PEP 427): module, metadata, RECORD."""
    dist = f"citadel_orca-{version}.dist-info"
    files = {
        "fakeorca.py": APP.format(
            version=version,
            status=status,
            broken="raise SystemExit('broken release')" if broken else "pass",
        ),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: citadel-orca\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[console_scripts]\norca = fakeorca:main\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    path = folder / f"citadel_orca-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Host:
    """A deploy root, a fake service manager and the environment deploy.sh runs with."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "opt"
        self.state = tmp_path / "state"
        self.state.mkdir()
        self.wheels = tmp_path / "wheels"
        self.wheels.mkdir()
        restart = tmp_path / "restart.sh"
        restart.write_text(RESTART)
        self.port = free_port()
        self.env = {
            **os.environ,
            "ORCA_DEPLOY_ROOT": str(self.root),
            "ORCA_RESTART_CMD": f"bash {restart}",
            "ORCA_PORT": str(self.port),
            "ORCA_HEALTH_TIMEOUT": "4",
            "ORCA_HEALTH_INTERVAL": "0.1",
            "ORCA_DEPLOY_PYTHON": sys.executable,
            "ORCA_PIP_ARGS": "--no-index --no-deps",
            "FAKE_STATE": str(self.state),
        }

    def deploy(self, version: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(DEPLOY), version],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def current(self) -> str:
        return os.readlink(self.root / "current")

    def restarts(self) -> list[str]:
        log = self.state / "restarts.log"
        return log.read_text().split() if log.exists() else []

    def health(self) -> tuple[int, dict[str, str]]:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/health/detailed", timeout=5
            ) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def stop(self) -> None:
        pid_file = self.state / "server.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    made = Host(tmp_path)
    try:
        yield made
    finally:
        made.stop()  # the fake service the restart script left running


def test_a_healthy_release_goes_live_and_the_next_replaces_it(host: Host) -> None:
    first = host.deploy(str(build_wheel(host.wheels, "1.0.0")))
    assert first.returncode == 0, first.stderr
    first_id = first.stdout.strip()
    assert first_id.endswith("-1.0.0")
    assert host.current() == f"releases/{first_id}"
    release = json.loads((host.root / "releases" / first_id / "release.json").read_text())
    assert release["version"] == "1.0.0"
    assert release["previous"] is None
    assert host.health() == (200, {"status": "ok", "version": "1.0.0"})

    second = host.deploy(str(build_wheel(host.wheels, "1.1.0")))
    assert second.returncode == 0, second.stderr
    second_id = second.stdout.strip()
    assert host.current() == f"releases/{second_id}"
    assert host.health() == (200, {"status": "ok", "version": "1.1.0"})
    assert host.restarts() == [f"releases/{first_id}", f"releases/{second_id}"]
    release = json.loads((host.root / "releases" / second_id / "release.json").read_text())
    assert release["previous"] == first_id


def test_an_unhealthy_release_is_rolled_back(host: Host) -> None:
    good = host.deploy(str(build_wheel(host.wheels, "1.0.0")))
    assert good.returncode == 0, good.stderr
    good_id = good.stdout.strip()

    bad = host.deploy(str(build_wheel(host.wheels, "2.0.0", status=503)))
    assert bad.returncode == 3, bad.stderr
    assert "rolled back" in bad.stderr
    assert '"version": "2.0.0"' in bad.stderr, "the last health answer is shown"
    bad_id = next(p.name for p in (host.root / "releases").iterdir() if p.name.endswith("2.0.0"))
    assert (host.root / "releases" / bad_id / "FAILED").read_text().strip() == (
        "health check failed"
    )
    assert host.current() == f"releases/{good_id}"
    assert host.restarts() == [f"releases/{good_id}", f"releases/{bad_id}", f"releases/{good_id}"]
    assert host.health() == (200, {"status": "ok", "version": "1.0.0"})


def test_a_failing_restart_is_rolled_back_and_a_first_release_cannot_be(host: Host) -> None:
    failing_restart = {"ORCA_RESTART_CMD": "exit 1"}
    first = host.deploy(str(build_wheel(host.wheels, "1.0.0")), **failing_restart)
    assert first.returncode == 4
    assert "no previous release" in first.stderr

    good = host.deploy(str(build_wheel(host.wheels, "1.0.1")))
    assert good.returncode == 0, good.stderr
    restarts = host.restarts()
    # The new release cannot be restarted at all: back to the last good one.
    worse = host.deploy(
        str(build_wheel(host.wheels, "1.0.2")),
        ORCA_RESTART_CMD=f"[[ $(readlink $ORCA_DEPLOY_ROOT/current) != *1.0.2 ]] && {host.env['ORCA_RESTART_CMD']}",
    )
    assert worse.returncode == 3, worse.stderr
    assert host.current() == f"releases/{good.stdout.strip()}"
    assert host.restarts() == [*restarts, f"releases/{good.stdout.strip()}"]
    assert host.health()[0] == 200


def test_a_release_that_does_not_run_never_goes_live(host: Host, tmp_path: Path) -> None:
    good = host.deploy(str(build_wheel(host.wheels, "1.0.0")))
    assert good.returncode == 0, good.stderr
    releases = sorted(p.name for p in (host.root / "releases").iterdir())

    broken = host.deploy(str(build_wheel(host.wheels, "3.0.0", broken=True)))
    assert broken.returncode == 1
    assert "broken release" in broken.stderr
    missing = host.deploy(str(tmp_path / "nowhere-1.0.whl"))
    assert missing.returncode == 2
    no_ref = host.deploy("no-such-ref", ORCA_GIT_REPO=str(tmp_path))
    assert no_ref.returncode == 2

    assert sorted(p.name for p in (host.root / "releases").iterdir()) == releases
    assert host.current() == f"releases/{good.stdout.strip()}"
    assert len(host.restarts()) == 1


def test_a_git_ref_is_installed_from_the_repository(host: Host, tmp_path: Path) -> None:
    # A repository whose build backend is in the tree (PEP 517 `backend-path`) and hands
    # pip a wheel kept in the repository, so pip builds it offline with no build tools.
    repo = tmp_path / "repo"
    (repo / "dist").mkdir(parents=True)
    build_wheel(repo / "dist", "4.0.0")
    (repo / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    (repo / "backend.py").write_text(
        "import glob, os, shutil\n\n"
        "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
        "    here = os.path.dirname(os.path.abspath(__file__))\n"
        "    wheel = glob.glob(os.path.join(here, 'dist', '*.whl'))[0]\n"
        "    shutil.copy(wheel, wheel_directory)\n"
        "    return os.path.basename(wheel)\n"
    )
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "release"], check=True)
    subprocess.run([*git, "tag", "v4.0.0"], check=True)

    done = host.deploy("v4.0.0", ORCA_GIT_REPO=str(repo))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("-v4.0.0")
    release = json.loads((host.root / "current" / "release.json").read_text())
    assert release["version"] == "4.0.0"
    assert release["source"].startswith("git v4.0.0 (")
    assert host.health() == (200, {"status": "ok", "version": "4.0.0"})
