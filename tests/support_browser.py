"""Running the Node scripts of `tests/browser/` in Debian's headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]
BROWSER_TESTS = ROOT / "tests" / "browser"
ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM = os.environ.get("ORCA_CHROMIUM", "/usr/bin/chromium")

# Each script bounds each wait (20 s) and itself (at most 150 s); this bounds the process.
SCRIPT_TIMEOUT_S = 180
NPM_TIMEOUT_S = 300


def browser_node() -> str:
    """Return the node binary, with playwright-core installed beside the scripts."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    assert node and npm, "Node.js and npm are needed: apt-get install -y nodejs npm"
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM}: apt-get install -y chromium"
    if not (BROWSER_TESTS / "node_modules" / "playwright-core").is_dir():
        # `make test` does this ahead of the suite (JS_TEST_DEPS); this is for a bare pytest run.
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=BROWSER_TESTS,
            check=True,
            timeout=NPM_TIMEOUT_S,
        )
    return node


def run_browser_script(
    node: str, script: str, url: str, screenshot: Path
) -> subprocess.CompletedProcess[str]:
    """Run `tests/browser/<script>` against `url`; keep its screenshot under var/test-artifacts."""
    result = subprocess.run(
        [node, str(BROWSER_TESTS / script), url, str(screenshot)],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        env={**os.environ, "ORCA_CHROMIUM": CHROMIUM},
    )
    if screenshot.exists():
        # Kept on failure too: the picture shows where the page stopped.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, ARTIFACTS / screenshot.name)
    return result
