"""The API docs in Debian's headless Chromium, with every request off the server blocked.

`tests/browser/api_docs.mjs` opens `/docs` and `/redoc` as a person would on a machine without
internet and waits for the operations to be listed. The screenshot it takes is kept in
`var/test-artifacts/api-docs.png`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, live_server
from tests.support_browser import browser_node, run_browser_script

pytestmark = pytest.mark.integration


def test_the_api_docs_list_the_operations_without_internet(tmp_path: Path) -> None:
    node = browser_node()
    screenshot = tmp_path / "api-docs.png"
    app = create_app(
        Settings(data_dir=tmp_path / "var"), models=fake_models(), embedder=fake_embedder()
    )
    with live_server(app) as url:
        result = run_browser_script(node, "api_docs.mjs", url, screenshot)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "OK:" in result.stdout
    assert screenshot.stat().st_size > 0
