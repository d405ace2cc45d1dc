"""A process killed with SIGKILL mid-run: the thread resumes after its last completed step."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def runner(postgres_url: str, thread_id: str, workdir: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.doubles.crash_runner",
            postgres_url,
            thread_id,
            str(workdir),
            mode,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def log_of(workdir: Path) -> list[str]:
    path = workdir / "log"
    return path.read_text().splitlines() if path.exists() else []


def test_a_killed_run_resumes_without_repeating_completed_steps(
    postgres_url: str, tmp_path: Path
) -> None:
    thread_id = f"crash-{uuid.uuid4().hex[:8]}"
    (tmp_path / "hold").touch()
    first = runner(postgres_url, thread_id, tmp_path, "start")
    try:
        deadline = time.monotonic() + 30  # a failure guard only
        while "draft started" not in log_of(tmp_path):
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the run never reached draft"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.kill()
        first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert log_of(tmp_path) == ["plan started", "plan", "draft started"]

    (tmp_path / "hold").unlink()
    second = runner(postgres_url, thread_id, tmp_path, "resume")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert json.loads(out.splitlines()[-1]) == {
        "topic": "falcons",
        "plan": "write about falcons",
        "draft": "a draft to write about falcons",
        "published": True,
    }
    # plan ran once; draft, which never finished, ran again from its start; then publish.
    assert log_of(tmp_path) == [
        "plan started",
        "plan",
        "draft started",
        "draft started",
        "draft",
        "publish started",
        "publish",
    ]
