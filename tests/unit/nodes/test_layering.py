"""`nodes/` sits below `graphs/`: each shared verb imports on its own, without any graph."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import nodes

MODULES = sorted(f"nodes.{m.name}" for m in pkgutil.iter_modules(nodes.__path__))
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("module", MODULES)
def test_a_shared_verb_imports_in_a_fresh_interpreter_without_graphs(module: str) -> None:
    # A fresh interpreter: in this one, `graphs` is long imported. `import nodes.generate`
    # used to fail here, on a cycle through `graphs/__init__.py` back into `nodes/`.
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'graphs'))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
