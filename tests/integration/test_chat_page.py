"""The chat page in Debian's headless Chromium, against the real app and the scripted model.

`tests/browser/chat_page.mjs` does what a person would: picks the `agent` workflow, asks a
question and reads the streamed answer, asks for a note to be saved, approves, and reads the
confirmation. Then it reloads, finds the conversation in the list of past ones, reopens it
and continues it on the same thread; reopens and continues threads started through the runs
API (one of them waiting for an approval); and checks the page still chats when
`/threads/search` answers 401. The screenshot it takes is kept in
`var/test-artifacts/chat-page.png`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import scripted_models
from tests.support import live_server, serving
from tests.support_browser import browser_node, run_browser_script

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node() -> str:
    """Return the node binary, with playwright-core installed beside the script."""
    return browser_node()


def test_chat_page_chats_approves_and_picks_up_past_conversations(
    node: str, tmp_path: Path
) -> None:
    screenshot = tmp_path / "chat-page.png"
    app = create_app(
        Settings(data_dir=tmp_path / "var"), models=scripted_models(), embedder=fake_embedder()
    )
    with live_server(app) as url:
        result = run_browser_script(node, "chat_page.mjs", url, screenshot)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "OK:" in result.stdout
    assert screenshot.stat().st_size > 0


async def test_the_page_and_its_two_assets_are_served_and_nothing_else(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path / "var"), models=scripted_models(), embedder=fake_embedder()
    )
    async with serving(app) as client:
        page = await client.get("/chat")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "/chat/static/app.js" in page.text
        script = await client.get("/chat/static/app.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]  # browsers refuse other module types
        assert (await client.get("/chat/static/styles.css")).status_code == 200
        for name in ["nope.js", "..%2F..%2Froutes%2Fchat.py", ".gitignore", "%2E%2E"]:
            assert (await client.get(f"/chat/static/{name}")).status_code == 404, name


async def test_the_home_page_links_the_chat_page(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path / "var"), models=scripted_models(), embedder=fake_embedder()
    )
    async with serving(app) as client:
        home = (await client.get("/")).text
        assert '<a href="/chat"><b>Open the chat</b></a>' in home
        assert 'href="/chat?workflow=agent"' in home  # each chat workflow opens on itself
        assert 'href="/chat?workflow=rag"' not in home  # rag takes a question, not a chat
