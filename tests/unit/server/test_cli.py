from pathlib import Path

import pytest
from typer.testing import CliRunner

from server.cli import app

runner = CliRunner()
NOBODY = "http://127.0.0.1:9"  # the discard port: nothing listens


def test_ask_without_a_server_is_one_clear_line() -> None:
    result = runner.invoke(app, ["ask", "hello?", "--server", NOBODY])
    assert result.exit_code == 1
    assert "cannot reach Citadel Orca" in result.output
    assert "orca serve" in result.output
    assert "Traceback" not in result.output


def test_ingest_of_a_missing_path_fails_before_calling_anyone(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--server", NOBODY])
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


def test_ingest_without_a_server_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\ntext\n")
    result = runner.invoke(app, ["ingest", str(tmp_path), "--server", NOBODY])
    assert result.exit_code == 1
    assert "cannot reach Citadel Orca" in result.output


def test_serve_with_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCA_QDRANT_URL", "::not-a-url::")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "ORCA_QDRANT_URL" in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Return what `orca serve` gives uvicorn (no app built, nothing served)."""
    import uvicorn

    import server.app
    import server.observability.logs
    from server.guards.request_head import HeadDeadlineProtocol

    options: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **given: options.update(given))
    monkeypatch.setattr(server.app, "create_app", lambda settings: settings)
    monkeypatch.setattr(server.observability.logs, "configure_logging", lambda **_: None)
    monkeypatch.setattr(HeadDeadlineProtocol, "head_timeout_s", 10.0)  # a new process's
    return options


def test_serve_believes_forwarded_for_only_from_the_trusted_proxies(
    served: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert served["forwarded_allow_ips"] == []  # not uvicorn's default, every loopback peer
    monkeypatch.setenv("ORCA_TRUSTED_PROXIES", '["100.64.0.0/10", "127.0.0.1"]')
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert served["forwarded_allow_ips"] == ["100.64.0.0/10", "127.0.0.1/32"]


def test_serve_closes_connections_whose_request_head_is_too_slow(
    served: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.guards.request_head import HeadDeadlineProtocol

    monkeypatch.setenv("ORCA_HEADER_TIMEOUT_S", "2.5")
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert served["http"] is HeadDeadlineProtocol
    assert HeadDeadlineProtocol.head_timeout_s == 2.5


def test_a_worker_process_sets_its_own_head_deadline(
    served: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.guards.request_head import HeadDeadlineProtocol
    from server.processes import app_factory

    monkeypatch.setenv("ORCA_HEADER_TIMEOUT_S", "4")
    assert app_factory().header_timeout_s == 4.0  # type: ignore[attr-defined]
    assert HeadDeadlineProtocol.head_timeout_s == 4.0


def test_worker_without_postgres_says_why() -> None:
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 1
    assert "ORCA_POSTGRES_URL" in result.output
    assert "Traceback" not in result.output
