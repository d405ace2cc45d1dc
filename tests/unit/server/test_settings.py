import pytest

from server.settings import PROFILE_DEFAULTS, Settings, SettingsError, load_settings


def test_development_defaults_use_only_embedded_parts() -> None:
    settings = load_settings()
    assert settings.profile == "development"
    assert settings.postgres_url is None
    assert settings.qdrant_url is None
    assert settings.chat_provider == "local"
    assert settings.embedding_provider == "local"
    assert settings.sqlite_path.name == "checkpoints.sqlite"


def test_production_profile_carries_the_network_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    # The addresses themselves live only in the production profile; no test contacts them.
    production = PROFILE_DEFAULTS["production"]
    monkeypatch.setenv("ORCA_PROFILE", "production")
    settings = load_settings()
    for name in ("llm01_url", "llm02_url", "qdrant_url", "postgres_url", "ollama_url"):
        assert str(getattr(settings, name)).rstrip("/") == production[name]
    assert settings.chat_provider == "openai"
    assert settings.embedding_provider == "ollama"
    assert production["ollama_url"].startswith("http://127.0.0.1")


def test_a_variable_overrides_its_profile_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCA_PROFILE", "production")
    monkeypatch.setenv("ORCA_QDRANT_URL", "http://127.0.0.1:6333")
    assert str(load_settings().qdrant_url) == "http://127.0.0.1:6333/"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ORCA_QDRANT_URL", "not a url", "ORCA_QDRANT_URL: "),
        ("ORCA_POSTGRES_URL", "mysql://x@y/z", "ORCA_POSTGRES_URL: "),
        ("ORCA_CHAT_PROVIDER", "gpt-magic", "ORCA_CHAT_PROVIDER: Input should be"),
        ("ORCA_EMBEDDING_PROVIDER", "nope", "ORCA_EMBEDDING_PROVIDER: "),
        ("ORCA_PROFILE", "staging", "ORCA_PROFILE: "),
        ("ORCA_PORT", "99999", "ORCA_PORT: "),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message
    assert value in message


def test_openai_chat_needs_an_llm01_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCA_CHAT_PROVIDER", "openai")
    with pytest.raises(SettingsError, match="llm01_url is required"):
        load_settings()


def test_dotenv_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("ORCA_TOP_K=7\n")
    assert Settings().top_k == 7


def test_env_example_documents_every_setting() -> None:
    from pathlib import Path

    example = (Path(__file__).parents[3] / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"ORCA_{name.upper()}" in example, f"ORCA_{name.upper()} missing from .env.example"


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    from pathlib import Path

    from server.settings_reference import render

    committed = (Path(__file__).parents[3] / "docs" / "configuration.md").read_text()
    assert committed == render(), "run: python -m server.settings_reference > docs/configuration.md"
