"""`orca deps install`: pip-install a LangGraph project's `dependencies` into Orca's Python.

`orca serve --config` refuses to start while one is missing, naming this command. Local
paths (`.`, `./packages/tools`) are installed editable by default, as `langgraph build`
does, so the project's code is served from where it is edited.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

deps_app = typer.Typer(help="A LangGraph project's dependencies.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@deps_app.command(
    "install",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def install_command(
    context: typer.Context,
    config: Annotated[
        Path,
        typer.Option("--config", envvar="ORCA_CONFIG", help="The project's langgraph.json."),
    ] = Path("langgraph.json"),
    editable: Annotated[
        bool, typer.Option(help="Install local paths editable (-e), as `langgraph build` does.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the command; run nothing.")
    ] = False,
) -> None:
    """Install `dependencies` of langgraph.json; arguments after `--` go to pip."""
    from server.projects import ProjectError, read_project
    from server.projects.dependencies import pip_command

    try:
        command = pip_command(read_project(config), editable=editable, extra=list(context.args))
    except ProjectError as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    if command[4:] == [*context.args]:
        console.print("nothing to install: the project lists no dependencies")
        return
    console.print(shlex.join(command), highlight=False, soft_wrap=True)
    if dry_run:
        return
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        errors.print(f"[bold red]error:[/] pip exited {done.returncode}", highlight=False)
        raise typer.Exit(code=done.returncode)
