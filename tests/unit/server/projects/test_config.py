"""Reading `langgraph.json`: each key supported, named as not applied, or refused."""

import json
from pathlib import Path
from typing import Any

import pytest

from server.projects.config import GraphEntry, ProjectError, read_project

GRAPH = "./src/agent/graph.py:graph"


def write(folder: Path, config: Any) -> Path:
    path = folder / "langgraph.json"
    path.write_text(json.dumps(config) if not isinstance(config, str) else config)
    return path


def test_reads_both_target_forms_and_descriptions(tmp_path: Path) -> None:
    project = read_project(
        write(
            tmp_path,
            {
                "graphs": {
                    "agent": GRAPH,
                    "mod": "my_pkg.graph:graph",
                    "described": {"path": "./g.py:graph", "description": "A graph."},
                }
            },
        )
    )
    assert project.graphs == {
        "agent": GraphEntry(GRAPH),
        "mod": GraphEntry("my_pkg.graph:graph"),
        "described": GraphEntry("./g.py:graph", "A graph."),
    }
    assert project.root == tmp_path.resolve()


def test_env_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / ".env").write_text("A=1\n# comment\nB='two words'\n")
    project = read_project(write(tmp_path / "conf", {"graphs": {"g": GRAPH}, "env": ".env"}))
    assert project.env == {"A": "1", "B": "two words"}


def test_env_mapping_and_missing_env_file(tmp_path: Path) -> None:
    mapped = read_project(write(tmp_path, {"graphs": {"g": GRAPH}, "env": {"A": 1}}))
    assert mapped.env == {"A": "1"}
    missing = read_project(write(tmp_path, {"graphs": {"g": GRAPH}, "env": ".env"}))
    assert missing.env == {}
    assert any(item.startswith("env (.env not found") for item in missing.not_applied)


def test_build_time_and_unknown_keys_are_named(tmp_path: Path) -> None:
    project = read_project(
        write(
            tmp_path,
            {
                "graphs": {"g": GRAPH},
                "python_version": "3.12",
                "dockerfile_lines": ["RUN true"],
                "image_distro": "wolfi",
                "surprise": True,
                "$schema": "https://langgra.ph/schema.json",
            },
        )
    )
    named = [item.split(" ")[0] for item in project.not_applied]
    assert named == ["python_version", "dockerfile_lines", "image_distro", "surprise"]


def test_maps_store_auth_cors_and_serde_onto_settings(tmp_path: Path) -> None:
    index = {"dims": 384, "embed": "openai:text-embedding-3-small", "fields": ["text"]}
    project = read_project(
        write(
            tmp_path,
            {
                "graphs": {"g": GRAPH},
                "store": {"index": index, "ttl": {"default_ttl": 60}},
                "auth": {"path": "./auth.py:auth", "disable_studio_auth": True},
                "http": {"app": "./web.py:app", "cors": {"allow_origins": ["https://a.example"]}},
                "checkpointer": {"serde": {"allowed_msgpack_modules": [["my_pkg.models", "Memo"]]}},
            },
        )
    )
    assert project.settings == {
        "store_index": index,
        "store_ttl": {"default_ttl": 60},
        "auth_path": "./auth.py:auth",
        "cors_origins": ["https://a.example"],
        "checkpoint_allowed_types": ["my_pkg.models.Memo"],
    }
    assert project.http_app == "./web.py:app"
    assert project.not_applied == ["auth.disable_studio_auth (not applied by Orca)"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'graphs' must map each graph name"),
        ({"graphs": {"g": "./graph.py"}}, "graph 'g': './graph.py' is not"),
        ({"graphs": {"g": "./src/graph.ts:graph"}}, "is a JavaScript graph"),
        ({"graphs": {"g": GRAPH}, "encryption": {"path": "./e.py:e"}}, "'encryption' is not"),
        ({"graphs": {"g": GRAPH}, "checkpointer": {"path": "./c.py:c"}}, "checkpointer.path"),
        ({"graphs": {"g": GRAPH}, "http": {"disable_store": True}}, "http.disable_store"),
        ({"graphs": {"g": GRAPH}, "http": {"app": "web.py"}}, "http.app: 'web.py' is not"),
        ({"graphs": {"g": GRAPH}, "dependencies": "."}, "'dependencies' must be a list"),
        ("{not json", "not readable JSON"),
        ("[]", "must be a JSON object"),
    ],
)
def test_refuses_with_one_line(tmp_path: Path, config: Any, message: str) -> None:
    with pytest.raises(ProjectError, match=message) as refused:
        read_project(write(tmp_path, config))
    assert "\n" not in str(refused.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no config file at"):
        read_project(tmp_path / "langgraph.json")
