"""The `orca` command: serve, and ingest/ask against a running server.

Qdrant's local mode locks its directory to one process, so `ingest` and `ask` never open
the stores themselves: they call the server's LangServe routes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from server.commands.failures import check_postgres, fail
from server.settings import SettingsError, load_settings

app = typer.Typer(help="Citadel Orca: agent-graph LLM orchestration.", no_args_is_help=True)
console = Console()

ServerOption = Annotated[
    str | None, typer.Option("--server", help="Base URL of a running server (ORCA_SERVER_URL).")
]

ApiKeyOption = Annotated[
    str | None, typer.Option(envvar="ORCA_API_KEY", help="API key, when the server asks for one.")
]


def server_url(explicit: str | None) -> str:
    """Return the server to talk to: the option, else the settings."""
    if explicit:
        return explicit.rstrip("/")
    try:
        return str(load_settings().server_url).rstrip("/")
    except SettingsError as exc:
        raise fail(str(exc)) from None


def post(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON and return the body, turning every failure into one line."""
    try:
        response = client.post(url, json=body)
    except httpx.TransportError as exc:
        raise fail(
            f"cannot reach Citadel Orca at {url} ({exc}); start it with `orca serve`"
        ) from None
    if response.status_code >= 400:
        raise fail(f"{response.status_code} from {url}: {describe(response)}")
    payload: dict[str, Any] = response.json()
    return payload


def describe(response: httpx.Response) -> str:
    """Pull the message out of an error response."""
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text[:300]
    if isinstance(detail, list):
        return "; ".join(
            str(item.get("msg", item)) for item in detail if isinstance(item, dict)
        ) or str(detail)
    return str(detail)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (ORCA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ORCA_PORT).")] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="ORCA_CONFIG",
            help="A LangGraph project's langgraph.json to serve (ORCA_CONFIG).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="ORCA_WORKERS",
            help="Server processes on the port (ORCA_WORKERS); more than 1 needs PostgreSQL, "
            "a Qdrant server and, with rate limits, Redis.",
        ),
    ] = 1,
) -> None:
    """Run the HTTP server on the configured (embedded by default) dependencies."""
    import uvicorn

    from server.guards.request_head import use_head_timeout
    from server.observability.logs import configure_logging
    from server.processes import refusal
    from server.projects import ProjectError, read_project
    from server.projects.environment import load_env

    try:
        if config is not None:  # its env first, so ORCA_* variables there apply too
            load_env(read_project(config))
        settings = load_settings(**({"config": config} if config is not None else {}))
    except (SettingsError, ProjectError) as exc:
        raise fail(str(exc)) from None
    # The options win over the settings, and the app sees the result (its auth warning
    # depends on the bound address).
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    configure_logging(level=settings.log_level, json_lines=settings.log_format == "json")
    if (refused := refusal(settings, workers)) is not None:
        raise fail(refused)
    # The lifespan runs inside uvicorn, which reports a failed start-up as a traceback and
    # exit 3 after the pool's timeout; one connection here says it on one line, at once.
    check_postgres(settings, "serve")
    served: Any
    if workers > 1:
        # Each process builds its own app (server/processes.py) from these settings.
        os.environ.update(ORCA_HOST=settings.host, ORCA_PORT=str(settings.port))
        if config is not None:
            os.environ["ORCA_CONFIG"] = str(config)
        served = "server.processes:app_factory"
    else:
        from server.app import create_app  # not in a supervisor: its workers import it

        try:
            served = create_app(settings)
        except ProjectError as exc:
            raise fail(str(exc)) from None
    uvicorn.run(
        served,
        factory=workers > 1,
        workers=workers,
        http=use_head_timeout(settings.header_timeout_s),  # each worker sets its own again
        host=settings.host,
        port=settings.port,
        log_config=None,  # configure_logging above owns the handlers
        access_log=False,  # one JSON line per request comes from the app instead
        # X-Forwarded-For from the same proxies the rate limiter believes, and no others:
        # uvicorn's default trusts any loopback peer, which would let a local caller pick
        # its own client address.
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
    )


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    thread: Annotated[str | None, typer.Option(help="Continue this thread id.")] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Ask the `rag` workflow, streaming the answer, then list its sources."""
    base = server_url(server)
    configurable = {"thread_id": thread} if thread else {}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        output = asyncio.run(stream_answer(base, question, configurable, headers))
    except httpx.TransportError as exc:
        raise fail(
            f"cannot reach Citadel Orca at {base} ({exc}); start it with `orca serve`"
        ) from None
    except httpx.HTTPStatusError as exc:
        raise fail(
            f"{exc.response.status_code} from the server: {describe(exc.response)}"
        ) from None
    console.print()
    for number, source in enumerate(output.get("sources", []), start=1):
        console.print(f"[dim][{number}] {source['source']} (score {source['score']:.3f})[/]")


async def stream_answer(
    base: str, question: str, configurable: dict[str, str], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Print tokens as the chat model produces them; return the workflow's output."""
    from langserve import RemoteRunnable

    remote = RemoteRunnable(f"{base}/workflows/rag", timeout=600, headers=headers or {})
    # An error status reaches us as HTTPStatusError on a streamed response that is closed
    # by then; reading it here keeps the server's message for `describe`.
    remote.async_client.event_hooks["response"].append(read_error_body)
    output: dict[str, Any] = {}
    streamed = False
    async for event in remote.astream_events(
        {"question": question}, {"configurable": configurable}, version="v2"
    ):
        if event["event"] == "on_chat_model_stream":
            chunk = event["data"]["chunk"]
            text = getattr(chunk, "content", "")
            if text:
                streamed = True
                console.print(text, end="", highlight=False, soft_wrap=True)
        elif event["event"] == "on_chain_end" and not event.get("parent_ids"):
            output = dict(event["data"].get("output") or {})
    if not streamed:
        console.print(output.get("answer", ""), end="", highlight=False)
    return output


async def read_error_body(response: httpx.Response) -> None:
    """Read an error response's body while its stream is still open."""
    if response.is_error:
        await response.aread()


def _register_commands() -> None:
    """Add the commands that live in `server/commands/`."""
    from server.commands.deps import deps_app
    from server.commands.eval import eval_command
    from server.commands.ingest import ingest_command
    from server.commands.keys import keys_app
    from server.commands.prune import prune_command
    from server.commands.worker import worker_command

    app.add_typer(keys_app, name="keys")
    app.add_typer(deps_app, name="deps")
    app.command("ingest")(ingest_command)
    app.command("prune")(prune_command)
    app.command("eval")(eval_command)
    app.command("worker")(worker_command)


_register_commands()
