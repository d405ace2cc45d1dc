"""The front page: where to go next."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from server.projects.workflows import workflows_of

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> str:
    """Point to the chat page first; list the workflows with their playgrounds; the API docs."""
    rows = "\n".join(
        f"<li><b>{escape(spec.name)}</b>: {escape(spec.description)} "
        + (f'<a href="/chat?workflow={quote(spec.name)}">chat</a> · ' if spec.chat else "")
        + (
            f'<a href="/workflows/{quote(spec.name)}/playground/">playground</a> · '
            f'<a href="/workflows/{quote(spec.name)}/input_schema">input schema</a>'
            if spec.langserve
            else "runs API"
        )
        + "</li>"
        for spec in workflows_of(request.app).values()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Citadel Orca</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto">
<h1>Citadel Orca</h1>
<p>Agent-graph orchestration.</p>
<p style="font-size: 1.15rem"><a href="/chat"><b>Open the chat</b></a>: talk to the chat
workflows, approve what the agent saves, and pick up past conversations.</p>
<p>Workflows:</p>
<ul>
{rows}
</ul>
<p><a href="/docs">API docs</a> · <a href="/health/detailed">health</a></p>
</body></html>"""
