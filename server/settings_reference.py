"""Write the configuration reference (`docs/configuration.md`) from the settings model.

    .venv/bin/python -m server.settings_reference > docs/configuration.md

A test checks the committed file equals this output, so the reference cannot drift.
"""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo

from server.settings import PROFILE_DEFAULTS, Settings

HEADER = """# Configuration reference

Generated from `server/settings.py` by `python -m server.settings_reference`; do not edit.
Every setting is an environment variable (or a line in `.env`). `ORCA_PROFILE=production`
fills in the production network's addresses for the settings marked *production default*
unless they are set explicitly.

| Variable | Default | Production default | Meaning |
|---|---|---|---|
"""


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    if isinstance(value, frozenset):
        return f"`{' '.join(sorted(value, reverse=True))}`"
    return f"`{value}`"


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def render() -> str:
    """Return the reference as Markdown."""
    rows = []
    production = PROFILE_DEFAULTS["production"]
    for name, field in Settings.model_fields.items():
        meaning = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append(
            f"| `ORCA_{name.upper()}` | {_shown(_default(field))} | "
            f"{_shown(production.get(name))} | {meaning} |"
        )
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
