"""A bug answered with a 500 keeps the client's connection (`errors.AnsweredErrors`).

Starlette answers an unhandled exception and raises it again for the server to log;
uvicorn then closed the keep-alive connection without saying so, and the client's next
request on it was reset (`ECONNRESET`, seen after a LangServe run failed upstream).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, live_server

pytestmark = pytest.mark.integration


def test_a_500_leaves_the_connection_open_for_the_next_request(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path / "var"), models=fake_models(), embedder=fake_embedder()
    )

    async def broken() -> None:
        raise RuntimeError("a bug")

    async def broken_openai() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    app.add_api_route("/v1/broken", broken_openai)
    peers: list[object] = []

    def record_peer(response: httpx.Response) -> None:
        stream = response.extensions["network_stream"]
        peers.append(stream.get_extra_info("client_addr"))

    with (
        live_server(app) as url,
        httpx.Client(base_url=url, event_hooks={"response": [record_peer]}) as client,
    ):
        failed = client.get("/broken")
        assert (failed.status_code, failed.text) == (500, "Internal Server Error")
        assert failed.headers["x-request-id"]
        openai = client.get("/v1/broken")
        assert openai.status_code == 500
        assert openai.json()["error"]["message"] == "The server had an error; it is logged."
        assert client.get("/health").status_code == 200
    assert len(peers) == 3 and len(set(peers)) == 1  # one connection served all three
