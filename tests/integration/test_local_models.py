"""End to end on the embedded defaults: real MiniLM, real SmolLM2, local Qdrant, SQLite."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langserve import RemoteRunnable
from typer.testing import CliRunner

from server.app import create_app
from server.cli import app as cli
from server.settings import Settings
from tests.support import CORPUS, live_server, sent_files

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("local") / "var", chat_max_tokens=48)
    with live_server(create_app(settings)) as url:
        response = httpx.post(
            f"{url}/workflows/ingest/invoke",
            json={"input": {"files": sent_files(CORPUS)}},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        yield url


def test_answer_sources_hold_the_passage_with_the_fact(server_url: str) -> None:
    response = httpx.post(
        f"{server_url}/workflows/rag/invoke",
        json={"input": {"question": "Who led the Project Falcon crane retrofit?"}},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    output = response.json()["output"]
    assert output["answer"].strip()
    best = output["sources"][0]
    assert best["source"].endswith("falcon.md")
    assert "Ingrid Solberg" in best["text"]


async def test_tokens_stream_through_stream_events(server_url: str) -> None:
    remote = RemoteRunnable(f"{server_url}/workflows/rag", timeout=120)
    tokens = [
        event["data"]["chunk"].content
        async for event in remote.astream_events(
            {"question": "How often is green tea served?"}, version="v2"
        )
        if event["event"] == "on_chat_model_stream"
    ]
    assert len(tokens) > 1
    assert "".join(tokens).strip()


def test_health_reports_the_local_models(server_url: str) -> None:
    checks = httpx.get(f"{server_url}/health/detailed").json()["checks"]
    assert checks["model:llm-01"]["provider"] == "local:SmolLM2-135M-Instruct"
    assert checks["model:embed-01"]["provider"] == "local:all-MiniLM-L6-v2"


def test_cli_ingests_with_progress_and_asks(server_url: str, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "parking.md").write_text("# Parking\nVisitor parking is behind the blue gate.\n")
    runner = CliRunner()
    ingested = runner.invoke(cli, ["ingest", str(notes), "--server", server_url])
    assert ingested.exit_code == 0, ingested.output
    assert "ingested 1 files, 1 chunks" in ingested.output
    asked = runner.invoke(
        cli, ["ask", "Where is visitor parking?", "--server", server_url, "--thread", "cli-1"]
    )
    assert asked.exit_code == 0, asked.output
    assert "parking.md" in asked.output


def test_the_agent_answers_over_ag_ui_with_a_model_that_cannot_call_tools(server_url: str) -> None:
    body = {
        "threadId": "local-agent-1",
        "runId": "run-1",
        "messages": [
            {"id": "u1", "role": "user", "content": "Who led the Project Falcon crane retrofit?"}
        ],
        "tools": [],
        "context": [],
        "state": {},
        "forwardedProps": {},
    }
    response = httpx.post(f"{server_url}/agui/agent", json=body, timeout=120)
    assert response.status_code == 200
    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    types = [event["type"] for event in events]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    text = "".join(event["delta"] for event in events if event["type"] == "TEXT_MESSAGE_CONTENT")
    assert text.strip()
    state = [event["snapshot"] for event in events if event["type"] == "STATE_SNAPSHOT"][-1]
    assert state["sources"][0]["source"].endswith("falcon.md")
    assert state["model"] == "llm-01"
