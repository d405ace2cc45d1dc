"""Fixtures for every test: settings isolated from the developer's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.settings import Settings


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep ORCA_* variables and a stray .env from leaking into a test."""
    for name in list(os.environ):
        if name.startswith("ORCA_") and not name.startswith("ORCA_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Development settings whose data dir is the test's own."""
    return Settings(data_dir=tmp_path / "var")
