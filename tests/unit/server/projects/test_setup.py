"""Opening a project for the app: env first, dependencies checked, settings mapped."""

import json
import os
from pathlib import Path
from typing import Any

import pytest

from server.projects.config import ProjectError
from server.projects.setup import open_project
from server.runs.records import ThreadExpiry
from server.settings import Settings


def settings_for(tmp_path: Path, config: dict[str, Any], **more: Any) -> Settings:
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"graphs": {"g": "./g.py:graph"}, **config}))
    return Settings(_env_file=None, data_dir=tmp_path / "var", config=path, **more)  # type: ignore[call-arg]


def test_no_config_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert open_project(settings) == (settings, None)


def test_env_is_loaded_but_the_process_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("PROJ_TEST_NEW=from-file\nPROJ_TEST_SET=from-file\n")
    monkeypatch.setenv("PROJ_TEST_SET", "from-process")
    monkeypatch.delenv("PROJ_TEST_NEW", raising=False)
    open_project(settings_for(tmp_path, {"env": ".env"}))
    assert os.environ["PROJ_TEST_NEW"] == "from-file"
    assert os.environ["PROJ_TEST_SET"] == "from-process"
    monkeypatch.delenv("PROJ_TEST_NEW")


def test_config_maps_onto_settings_unless_set_explicitly(tmp_path: Path) -> None:
    config = {
        "auth": {"path": "./auth.py:auth"},
        "http": {"cors": {"allow_origins": ["https://a.example"]}},
    }
    settings, project = open_project(settings_for(tmp_path, config))
    assert project is not None
    assert settings.auth_path == "./auth.py:auth"
    assert settings.auth_base_dir == tmp_path.resolve()
    assert settings.cors_origins == ["https://a.example"]
    explicit, _ = open_project(settings_for(tmp_path, config, cors_origins=["https://b.example"]))
    assert explicit.cors_origins == ["https://b.example"]


def test_store_keys_map_onto_the_store_settings(tmp_path: Path) -> None:
    config = {"store": {"index": {"dims": 4, "embed": "embed-01"}, "ttl": {"default_ttl": 5}}}
    if "store_index" not in Settings.model_fields:
        with pytest.raises(ProjectError, match="'store.index' is not supported by this Orca"):
            open_project(settings_for(tmp_path, config))
        pytest.skip("this Orca has no store settings (store_index, store_ttl) yet")
    settings, _ = open_project(settings_for(tmp_path, config))
    assert settings.store_index is not None and settings.store_ttl is not None


def test_checkpointer_ttl_maps_onto_the_thread_ttl(tmp_path: Path) -> None:
    ttl = {"strategy": "keep_latest", "default_ttl": 60, "sweep_interval_minutes": 10}
    settings, _ = open_project(settings_for(tmp_path, {"checkpointer": {"ttl": ttl}}))
    assert settings.thread_ttl.default() == ThreadExpiry("keep_latest", 60)
    assert settings.thread_ttl.sweep_interval_minutes == 10
    with pytest.raises(ProjectError, match="checkpointer.ttl"):
        open_project(settings_for(tmp_path, {"checkpointer": {"ttl": {"default_ttl": -1}}}))


def test_missing_dependency_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as refused:
        open_project(settings_for(tmp_path, {"dependencies": ["absent-package-xyz"]}))
    assert str(refused.value) == (
        "dependencies not installed: absent-package-xyz (not installed); run "
        f"`orca deps install --config {tmp_path.resolve() / 'langgraph.json'}`"
    )
