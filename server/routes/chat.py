"""The chat page, served at `/chat`: an AG-UI client that lists past threads via `/threads`.

The page is `server/static/chat/` (index.html and styles.css edited in place); its script's
sources live in `server/web/chat/src/`, and `npm run build` there writes the bundle `app.js`
beside them. All of it is committed, so serving the page needs neither npm nor internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = Path(__file__).parents[1] / "static" / "chat"

# Revalidate on every load (ETag / Last-Modified make that a 304): the bundle keeps its name
# across builds, so a cached copy would outlive a deploy.
NO_STALE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def _asset(name: str) -> Path:
    """Return the built file `name`, or answer 404.

    Only files directly in the build folder are served, so no path can climb out of it.
    """
    path = STATIC / name
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(404, f"No chat page asset named {name!r}.")
    return path


@router.get("/chat")
async def chat_page() -> FileResponse:
    """Serve the chat page."""
    if not (STATIC / "index.html").is_file():
        raise HTTPException(
            404, "The chat page is not built: run `npm ci && npm run build` in server/web/chat."
        )
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=NO_STALE)


@router.get("/chat/static/{name}")
async def chat_asset(name: str) -> FileResponse:
    """Serve one of the page's built files: its script or its stylesheet."""
    return FileResponse(_asset(name), headers=NO_STALE)
