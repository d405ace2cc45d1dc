"""`dependencies` of a project: which are installed, and the pip command that installs them.

As in `langgraph build`: `.` and other local paths (relative to the config's folder) are
installed as packages when they have a `pyproject.toml` or `setup.py` (and their
`requirements.txt` when they have one); a folder with neither is only put on `sys.path`, as
`langgraph dev` does. Anything else is a pip requirement (`langchain-openai>=0.3`).
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from server.projects.config import Project, ProjectError


@dataclass(frozen=True)
class Dependency:
    """One `dependencies` entry, resolved."""

    entry: str
    path: Path | None = None
    """The folder, for a local path."""
    requirement: Requirement | None = None
    """The requirement, for a package name."""

    @property
    def packaged(self) -> bool:
        """Return whether the folder is a package pip installs (not just a source folder)."""
        return self.path is not None and any(
            (self.path / name).is_file() for name in ("pyproject.toml", "setup.py")
        )

    @property
    def requirements_file(self) -> Path | None:
        """Return the folder's `requirements.txt`, when it has one."""
        found = self.path / "requirements.txt" if self.path is not None else None
        return found if found is not None and found.is_file() else None


def resolve(project: Project) -> list[Dependency]:
    """Return the project's dependencies, local paths made absolute.

    Raises:
        ProjectError: for a local path that is not a folder or a malformed requirement.
    """
    resolved = []
    for entry in project.dependencies:
        if entry.startswith((".", "/", "~")):
            folder = (project.root / entry).expanduser().resolve()
            if not folder.is_dir():
                raise ProjectError(f"dependency {entry!r}: no folder {folder}")
            resolved.append(Dependency(entry, path=folder))
            continue
        try:
            resolved.append(Dependency(entry, requirement=Requirement(entry)))
        except InvalidRequirement as error:
            raise ProjectError(f"dependency {entry!r} is not a pip requirement: {error}") from None
    return resolved


def missing(project: Project) -> list[str]:
    """Return each dependency that is not installed in this environment, with why."""
    absent = []
    for dependency in resolve(project):
        requirements = [dependency.requirement] if dependency.requirement else []
        if dependency.requirements_file is not None:
            requirements += _read_requirements(dependency.requirements_file)
        if dependency.packaged and dependency.path is not None:
            name = _project_name(dependency.path)
            if name is not None and not _installed(name):
                absent.append(f"{dependency.entry} (package {name!r})")
        for requirement in requirements:
            problem = _unmet(requirement)
            if problem:
                absent.append(problem)
    return absent


def pip_command(
    project: Project, *, editable: bool = True, extra: list[str] | None = None
) -> list[str]:
    """Return the `pip install` command that installs every dependency into this Python."""
    arguments: list[str] = []
    for dependency in resolve(project):
        if dependency.requirement is not None:
            arguments.append(dependency.entry)
            continue
        if dependency.requirements_file is not None:
            arguments += ["-r", str(dependency.requirements_file)]
        if dependency.packaged:
            arguments += ["-e", str(dependency.path)] if editable else [str(dependency.path)]
    return [sys.executable, "-m", "pip", "install", *arguments, *(extra or [])]


def _project_name(folder: Path) -> str | None:
    """Return the distribution name in `pyproject.toml` (None for a `setup.py` project)."""
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    except tomllib.TOMLDecodeError as error:
        raise ProjectError(f"{pyproject}: not valid TOML ({error})") from None
    return str(name) if name else None


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _unmet(requirement: Requirement) -> str | None:
    if requirement.marker is not None and not requirement.marker.evaluate():
        return None
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return f"{requirement} (not installed)"
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        return f"{requirement} ({version} installed)"
    return None


def _read_requirements(path: Path) -> list[Requirement]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if not line or line.startswith(("#", "-")):  # options (-r, -e, --hash) are pip's
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement as error:
            raise ProjectError(f"{path}: {line!r} is not a requirement: {error}") from None
    return found
