"""Every `orca` failure a user can cause is one `error:` line and exit 1, never a traceback."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from typer.testing import CliRunner

from server.cli import app

runner = CliRunner()
NO_POSTGRES = "postgresql://postgres:sekrit@127.0.0.1:5499/x"  # a closed port


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORCA_CORS_ORIGINS", "*"),
        ("ORCA_TRUSTED_PROXIES", "garbage"),
        ("ORCA_CLERK_AUTHORIZED_PARTIES", "not json"),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["keys", "list"]])
def test_a_list_setting_that_is_not_json_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, command: list[str]
) -> None:
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, command)
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert variable in line
    assert "JSON list" in line


@pytest.mark.parametrize(
    "command", [["keys", "list"], ["keys", "revoke", "abc"], ["keys", "create", "--owner", "z"]]
)
def test_keys_without_postgres_names_it_without_the_password(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("ORCA_POSTGRES_URL", NO_POSTGRES)
    result = runner.invoke(app, command)
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert "failed on PostgreSQL 127.0.0.1:5499/x" in line
    assert "sekrit" not in result.output


def test_keys_on_an_unusable_data_dir_names_the_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCA_DATA_DIR", "/proc/nope")
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 1
    assert "/proc/nope" in one_error_line(result.output)


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_worker_and_serve_without_postgres_say_so_at_once(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    import uvicorn

    import server.observability.logs

    monkeypatch.setattr(uvicorn, "run", lambda *_, **__: pytest.fail("served anyway"))
    # Its handlers would outlive the runner's captured stream and break later tests' logs.
    monkeypatch.setattr(server.observability.logs, "configure_logging", lambda **_: None)
    monkeypatch.setenv("ORCA_POSTGRES_URL", NO_POSTGRES)
    result = runner.invoke(app, [command])
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert f"{command} failed on PostgreSQL 127.0.0.1:5499/x" in line
    assert "sekrit" not in result.output


class Refuses(BaseHTTPRequestHandler):
    """Answer every POST as a server with auth on answers a call without a key."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"detail": "missing API key: send Authorization: Bearer"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_ask_refused_by_the_server_shows_its_message(refusing_server: str) -> None:
    result = runner.invoke(app, ["ask", "hi", "--server", refusing_server])
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert line == "error: 401 from the server: missing API key: send Authorization: Bearer"
