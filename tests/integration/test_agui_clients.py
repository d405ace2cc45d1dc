"""The AG-UI endpoint against real clients: `@ag-ui/client`'s HttpAgent and ag-ui-validate."""

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ag_ui_validate import CANONICAL_FEATURES
from ag_ui_validate.pytest_plugin import validate_agui_endpoint

from server.app import create_app
from server.settings import Settings
from tests.doubles.embedder import fake_embedder
from tests.doubles.scripted_chat import scripted_models
from tests.support import live_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:forwardedProps.command.resume is deprecated"),
]

CLIENT_DIR = Path(__file__).parents[1] / "agui_client"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("agui") / "var")
    app = create_app(settings, models=scripted_models(), embedder=fake_embedder())
    with live_server(app) as url:
        response = httpx.post(
            f"{url}/workflows/ingest/invoke",
            json={"input": {"texts": ["Green tea is served in the kitchen at ten."], "paths": []}},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        yield url


def test_httpagent_runs_every_scenario(server_url: str) -> None:
    if not (CLIENT_DIR / "node_modules" / "@ag-ui" / "client").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT_DIR, check=True, timeout=300
        )
    node = shutil.which("node")
    assert node, "Node.js is needed for the AG-UI client tests"
    done = subprocess.run(
        [node, "scenarios.mjs", server_url],
        cwd=CLIENT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok   ") == 7, done.stdout


def body(thread: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "threadId": thread,
        "runId": uuid.uuid4().hex,
        "messages": [{"id": uuid.uuid4().hex, "role": "user", "content": text}],
        "tools": [],
        "context": [],
        "state": {},
        "forwardedProps": {},
        **extra,
    }


BANNER = {
    "name": "show_banner",
    "description": "Show a banner.",
    "parameters": {"type": "object", "properties": {"message": {"type": "string"}}},
}


@pytest.mark.parametrize(
    ("workflow", "request_body"),
    [
        ("agent", body("v-plain", "hello there")),
        ("agent", body("v-tool", "search for Falcon")),
        ("agent", body("v-frontend", "frontend please", tools=[BANNER])),
        ("agent", body("v-note", "note: the rota changes")),
        ("agent", body("v-error", "please fail")),
        ("rag-chat", body("v-rag", "When is green tea served?")),
    ],
    ids=["plain", "backend-tool", "frontend-tool", "interrupt", "error", "rag-chat"],
)
async def test_ag_ui_validate_finds_nothing_with_every_feature_declared(
    server_url: str, workflow: str, request_body: dict[str, Any]
) -> None:
    report = await validate_agui_endpoint(
        f"{server_url}/agui/{workflow}",
        input=request_body,
        features=list(CANONICAL_FEATURES),
        timeout_ms=60_000,
    )
    findings = [(d.rule, d.severity, d.message) for d in report.diagnostics if d.severity != "info"]
    assert (report.summary.errors, report.summary.warnings) == (0, 0), findings


async def test_ag_ui_validate_accepts_the_resumed_run(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url, timeout=60) as client:
        first = await client.post("/agui/agent", json=body("v-resume", "note: approve me"))
    finished = [line for line in first.text.splitlines() if '"RUN_FINISHED"' in line][-1]
    interrupt_id = httpx.Response(200, content=finished.removeprefix("data: ")).json()["outcome"][
        "interrupts"
    ][0]["id"]
    resume = [{"interruptId": interrupt_id, "status": "resolved", "payload": {"approved": True}}]
    report = await validate_agui_endpoint(
        f"{server_url}/agui/agent",
        input={**body("v-resume", "x"), "messages": [], "resume": resume},
        features=list(CANONICAL_FEATURES),
        timeout_ms=60_000,
    )
    findings = [(d.rule, d.severity, d.message) for d in report.diagnostics if d.severity != "info"]
    assert (report.summary.errors, report.summary.warnings) == (0, 0), findings
