"""Write the lock files beside this script, and check a venv against them.

`python requirements/lock.py lock [PIP_ARGS...]` (what `make lock` runs, in a new venv): one
fresh resolve of `citadel-orca[local,test]` from pyproject.toml's ranges with pip's configured
indexes, then the `[local]` subset at the same versions, written with the sha256 of the file
pip chose on this machine (CPython 3.11, Linux x86-64):

- `pip.txt`: the pip that installs the rest (`--build-constraint` needs pip 25.3 or newer);
- `local.txt`: what `make run` installs; `test.txt`: what `make test` installs;
- `build.txt`: the build backends pip fetches for this project (hatchling) and for the set's
  one sdist, llama-cpp-python (scikit-build-core), with their dependencies: pip checks the
  hashes of build constraints too, and then wants every build requirement in them.

PIP_ARGS go to the first resolve, e.g. `-c old-freeze.txt` to lock a set already tested.

`python requirements/lock.py check EXTRA...` (after each install): the installed set satisfies
everything `citadel-orca[EXTRA...]` needs, so a dependency added to pyproject.toml but not to
the lock fails the install instead of going missing. `drift`: how the venv differs from the
lock (`make test-latest` prints it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parent
PROJECT = "citadel-orca"
SDIST_BACKENDS = {"llama-cpp-python": ["scikit-build-core", "cmake", "ninja"]}
"""Build requirements of the sdists in the set (cmake and ninja only when the machine's own
are missing or too old). An sdist not named here stops `lock`: add its backend."""
HEADER = """\
# {what}
# CPython 3.11, Linux x86-64. Written by `make lock` (requirements/lock.py) from
# pyproject.toml's ranges; do not edit.
"""
TORCH_NOTE = """\
# torch is the CPU build that lies on this machine kind's disk (/opt/wheels, found through
# pip's configuration): PyPI has CUDA builds only.
"""


def canonical(name: str) -> str:
    """Return the normalised project name (PEP 503)."""
    return name.lower().replace("_", "-").replace(".", "-")


def resolve(requirements: list[str], *pip_args: str) -> list[dict[str, Any]]:
    """Return what pip would install for `requirements` into an empty environment."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run"]
        command += ["--ignore-installed", "--report", str(report), *pip_args, *requirements]
        subprocess.run(command, check=True, cwd=ROOT)
        items: list[dict[str, Any]] = json.loads(report.read_text())["install"]
    return [item for item in items if "dir_info" not in item["download_info"]]  # the project


def pin(item: dict[str, Any]) -> tuple[str, str, str]:
    """Return (name, version, sha256) of one report item."""
    hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
    if "sha256" not in hashes:
        raise SystemExit(f"no sha256 for {item['download_info']['url']}")
    return canonical(item["metadata"]["name"]), item["metadata"]["version"], hashes["sha256"]


def write(path: Path, what: str, items: list[dict[str, Any]]) -> None:
    """Write one lock file: `name==version`, with its hash, one package a line, sorted."""
    lines = [HEADER.format(what=what)]
    if any(canonical(item["metadata"]["name"]) == "torch" for item in items):
        lines.append(TORCH_NOTE)
    for name, version, sha256 in sorted(pin(item) for item in items):
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{sha256}\n")
    path.write_text("".join(lines))
    print(f"wrote {path.relative_to(ROOT)}: {len(items)} packages")


def lock(pip_args: list[str]) -> None:
    """Resolve and write every lock file."""
    test = resolve(["-e", ".[local,test]"], *pip_args)
    sdists = {canonical(i["metadata"]["name"]) for i in test if not is_wheel(i)}
    unknown = sdists - SDIST_BACKENDS.keys()
    if unknown:
        raise SystemExit(f"sdists with no build backend in SDIST_BACKENDS: {sorted(unknown)}")
    with tempfile.TemporaryDirectory() as scratch:
        pins = Path(scratch) / "pins.txt"
        pins.write_text("".join(f"{name}=={version}\n" for name, version, _ in map(pin, test)))
        local = resolve(["-e", ".[local]"], "-c", str(pins))
        pip = resolve(["pip"], "-c", str(pins))  # the set's own pip, when it has one (llm's)
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    backends = [*build_system["requires"], "editables"]  # hatchling asks for it for `-e .`
    build = resolve([*backends, *(r for s in sorted(sdists) for r in SDIST_BACKENDS[s])])

    write(HERE / "pip.txt", "The pip that installs the lock (bootstrapped first).", pip)
    write(HERE / "local.txt", "What `make run` installs: citadel-orca[local].", local)
    write(HERE / "test.txt", "What `make test` installs: citadel-orca[local,test].", test)
    write(HERE / "build.txt", "Build backends (pip's --build-constraint).", build)


def is_wheel(item: dict[str, Any]) -> bool:
    """Return whether pip chose a wheel (not an sdist it would build)."""
    return str(item["download_info"]["url"]).endswith(".whl")


def locked() -> dict[str, str]:
    """Return test.txt's pins (the whole set) by canonical name."""
    pins = {}
    for line in (HERE / "test.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith((" ", "#")):
            pins[canonical(name)] = version.split()[0]
    return pins


def installed() -> dict[str, str]:
    """Return the running venv's distributions (the project aside) by canonical name."""
    found = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    found.pop(PROJECT, None)
    return found


def check(extras: list[str]) -> None:
    """Exit 1 naming every requirement of citadel-orca[extras] the venv does not satisfy.

    Packages the lock does not have (left by an earlier install, or put in by hand) are
    named, not removed.
    """
    from packaging.requirements import Requirement

    problems: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(PROJECT, frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        if (canonical(name), wanted) in seen:
            continue
        seen.add((canonical(name), wanted))
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": e}) for e in wanted or {""}):
                continue
            try:
                version = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                problems.append(f"{requirement} (for {name}) is not in the lock")
                continue
            if not requirement.specifier.contains(version, prereleases=True):
                problems.append(f"{requirement} (for {name}) is locked at {version}")
            todo.append((requirement.name, frozenset(requirement.extras)))
    if problems:
        print("\n".join(["The lock does not satisfy pyproject.toml:", *problems]), file=sys.stderr)
        raise SystemExit("Run `make lock` (then `make test`) and commit requirements/.")
    pins = locked()
    extra = sorted(name for name in installed() if name not in pins and name != "pip")
    if extra:
        print(f"note: not in the lock: {', '.join(extra)} (left from an earlier install?)")


def drift() -> None:
    """Print how the running venv differs from the lock (for `make test-latest`)."""
    pins, found = locked(), installed()
    changes = [
        f"  {name}: {pins.get(name, '-')} -> {found.get(name, '-')}"
        for name in sorted(pins.keys() | found.keys())
        if pins.get(name) != found.get(name)
    ]
    print("\n".join(["differs from requirements/test.txt:", *changes] if changes else ["= lock"]))


def main() -> None:
    """Dispatch `lock`, `check` or `drift`."""
    command, *args = sys.argv[1:] or ["help"]
    if command == "lock":
        lock(args)
    elif command == "check":
        check(args)
    elif command == "drift":
        drift()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
