"""A real Orca process on fake models, to be killed, drained or run side by side.

    python -m tests.doubles.runs_runner serve PORT READY_FILE
    python -m tests.doubles.runs_runner work READY_FILE

Settings come from the environment (`ORCA_*`), as for `orca serve` and `orca worker`; only
the models differ: fakes (`tests.support.fake_models`, `tests.doubles.embedder`), so a
process starts in seconds and never loads the local llama or torch models. `serve` serves
the app with uvicorn on 127.0.0.1:PORT (SIGTERM: uvicorn's graceful shutdown, which drains
the run workers); `work` is `orca worker`'s loop (`server.commands.worker`: the lifespan
without HTTP until SIGTERM or SIGINT, then the drain). READY_FILE is created once the
lifespan has started (the run workers are claiming).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from server.app import create_app
from server.commands.worker import _work
from server.observability.logs import configure_logging
from server.settings import load_settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models


def build(ready: Path) -> FastAPI:
    """Return the app on fake models; its lifespan creates `ready` once started."""
    settings = load_settings()
    configure_logging(level=settings.log_level, json_lines=False)
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    opened = app.router.lifespan_context

    @asynccontextmanager
    async def announced(app: FastAPI) -> AsyncIterator[None]:
        async with opened(app):
            await asyncio.to_thread(ready.touch)
            yield

    app.router.lifespan_context = announced
    return app


def main(argv: list[str]) -> None:
    """Serve or work, as `argv` says."""
    if argv[0] == "serve":
        app = build(Path(argv[2]))
        config = uvicorn.Config(app, host="127.0.0.1", port=int(argv[1]), log_level="warning")
        uvicorn.Server(config).run()
    elif argv[0] == "work":
        asyncio.run(_work(build(Path(argv[1]))))
    else:
        raise SystemExit(f"usage: serve PORT READY_FILE | work READY_FILE, not {argv}")


if __name__ == "__main__":
    main(sys.argv[1:])
