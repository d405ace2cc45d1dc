"""Fixtures for project tests: a throw-away `sys.path` and unique package names."""

import sys
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _own_sys_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo the folders a project adds to `sys.path`."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield


@pytest.fixture
def package() -> str:
    """Return a package name no other test imports (modules stay in `sys.modules`)."""
    return f"proj_{uuid.uuid4().hex[:10]}"
