"""A faithful stand-in for a single-node Qdrant server's snapshot API, served on loopback.

It follows Qdrant's REST API (v1.x, `api.qdrant.tech` reference) for what backup.sh and
restore.sh call, plus what qdrant-client needs to seed and read a collection:

- every JSON answer is `{"result": ..., "status": "ok", "time": <seconds>}`; errors are
  `{"status": {"error": "..."}, "time": ...}` (404 `Not found: Collection `x` doesn't
  exist!`, 400 `Bad request: ...`);
- with an API key configured, a request without a matching `api-key` header (or
  `Authorization: Bearer`) gets 401 with a plain-text body;
- `POST /collections/{name}/snapshots` writes a snapshot file (a tar archive of the
  collection's config and points) named `{name}-{node id}-{YYYY-MM-DD-HH-MM-SS}.snapshot`
  and answers its `SnapshotDescription` (`name`, `creation_time`, `size`, `checksum`, the
  file's sha256); `GET .../snapshots` lists them, `GET .../snapshots/{snapshot}` streams the
  bytes, `DELETE` removes one;
- `POST /collections/{name}/snapshots/upload?priority=...&checksum=...` takes a multipart
  field `snapshot`, checks `checksum` (sha256) when given, and replaces or creates the
  collection from it; `priority` must be `no_sync`, `snapshot` or `replica`;
- `PUT /collections/{name}`, `PUT .../points`, `POST .../points/scroll` and
  `POST .../points/count` as qdrant-client uses them.

`app.state.calls` records `(method, path, query, api_key)` of every request,
`app.state.uploads` the bytes of the last snapshot uploaded per collection, and
`app.state.collections` is the store (`{name: {"config": ..., "points": {id: point}}}`).
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import hashlib
import io
import json
import tarfile
import time
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

VERSION = "1.15.4"
NODE_ID = 4139807562891044
PRIORITIES = ("no_sync", "snapshot", "replica")


def _ok(result: Any, started: float) -> JSONResponse:
    return JSONResponse({"result": result, "status": "ok", "time": time.perf_counter() - started})


def _error(status: int, message: str, started: float) -> JSONResponse:
    return JSONResponse(
        {"status": {"error": message}, "time": time.perf_counter() - started}, status_code=status
    )


def _missing(name: str, started: float) -> JSONResponse:
    return _error(404, f"Not found: Collection `{name}` doesn't exist!", started)


def pack(collection: dict[str, Any]) -> bytes:
    """Write a collection as a snapshot archive (a tar, like Qdrant's)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in (
            ("config.json", collection["config"]),
            ("points.json", list(collection["points"].values())),
        ):
            data = json.dumps(content, sort_keys=True).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def unpack(data: bytes) -> dict[str, Any]:
    """Read a snapshot archive back; ValueError if it is not one."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
            config = json.load(archive.extractfile("config.json"))  # type: ignore[arg-type]
            points = json.load(archive.extractfile("points.json"))  # type: ignore[arg-type]
    except (tarfile.TarError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"Snapshot is not a valid archive: {exc}") from None
    return {"config": config, "points": {str(p["id"]): p for p in points}}


def _multipart_field(content_type: str, body: bytes, field: str) -> bytes | None:
    """Return the named part of a multipart/form-data body (stdlib parser)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == field:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


def create_qdrant_double(api_key: str | None = None) -> FastAPI:
    """Return the double; with `api_key`, every request must carry it."""
    app = FastAPI()
    app.state.calls = []
    app.state.collections = {}
    snapshots: dict[str, dict[str, bytes]] = {}
    app.state.snapshots = snapshots
    app.state.uploads = {}

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Response:
        given = request.headers.get("api-key")
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            given = given or bearer[7:]
        app.state.calls.append(
            (request.method, request.url.path, dict(request.query_params), given)
        )
        if api_key is not None and given != api_key:
            message = (
                "Invalid API key or JWT"
                if given
                else "Must provide an API key or an Authorization bearer token"
            )
            return PlainTextResponse(message, status_code=401)
        response: Response = await call_next(request)
        return response

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"title": "qdrant - vector search engine", "version": VERSION, "commit": "0" * 40}

    @app.get("/collections")
    async def list_collections() -> JSONResponse:
        started = time.perf_counter()
        names = [{"name": name} for name in sorted(app.state.collections)]
        return _ok({"collections": names}, started)

    @app.put("/collections/{name}")
    async def create_collection(name: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        if name in app.state.collections:
            return _error(409, f"Wrong input: Collection `{name}` already exists!", started)
        app.state.collections[name] = {"config": await request.json(), "points": {}}
        return _ok(True, started)

    @app.put("/collections/{name}/points")
    async def upsert(name: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        collection = app.state.collections.get(name)
        if collection is None:
            return _missing(name, started)
        for point in (await request.json())["points"]:
            collection["points"][str(point["id"])] = point
        return _ok({"operation_id": len(app.state.calls), "status": "completed"}, started)

    @app.post("/collections/{name}/points/scroll")
    async def scroll(name: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        collection = app.state.collections.get(name)
        if collection is None:
            return _missing(name, started)
        body = await request.json()
        records = [
            {
                "id": point["id"],
                "payload": point.get("payload") if body.get("with_payload", True) else None,
                "vector": point.get("vector") if body.get("with_vector") else None,
            }
            for point in sorted(collection["points"].values(), key=lambda p: str(p["id"]))
        ]
        return _ok({"points": records[: body.get("limit", 10)], "next_page_offset": None}, started)

    @app.post("/collections/{name}/points/count")
    async def count(name: str) -> JSONResponse:
        started = time.perf_counter()
        collection = app.state.collections.get(name)
        if collection is None:
            return _missing(name, started)
        return _ok({"count": len(collection["points"])}, started)

    @app.post("/collections/{name}/snapshots")
    async def create_snapshot(name: str) -> JSONResponse:
        started = time.perf_counter()
        collection = app.state.collections.get(name)
        if collection is None:
            return _missing(name, started)
        now = dt.datetime.now(dt.UTC)
        snapshot = f"{name}-{NODE_ID}-{now:%Y-%m-%d-%H-%M-%S}.snapshot"
        data = pack(collection)
        snapshots.setdefault(name, {})[snapshot] = data
        return _ok(_describe(snapshot, data, now), started)

    @app.get("/collections/{name}/snapshots")
    async def list_snapshots(name: str) -> JSONResponse:
        started = time.perf_counter()
        if name not in app.state.collections:
            return _missing(name, started)
        files = snapshots.get(name, {})
        now = dt.datetime.now(dt.UTC)
        return _ok([_describe(s, data, now) for s, data in files.items()], started)

    @app.get("/collections/{name}/snapshots/{snapshot}", response_model=None)
    async def download(name: str, snapshot: str) -> Response:
        started = time.perf_counter()
        data = snapshots.get(name, {}).get(snapshot)
        if data is None:
            return _error(404, f"Not found: Snapshot {snapshot} not found", started)
        return Response(data, media_type="application/octet-stream")

    @app.delete("/collections/{name}/snapshots/{snapshot}")
    async def delete_snapshot(name: str, snapshot: str) -> JSONResponse:
        started = time.perf_counter()
        if snapshots.get(name, {}).pop(snapshot, None) is None:
            return _error(404, f"Not found: Snapshot {snapshot} not found", started)
        return _ok(True, started)

    @app.post("/collections/{name}/snapshots/upload")
    async def upload(name: str, request: Request) -> Response:
        started = time.perf_counter()
        priority = request.query_params.get("priority")
        if priority is not None and priority not in PRIORITIES:
            return PlainTextResponse(
                f"Query deserialize error: unknown variant `{priority}`, expected one of "
                + ", ".join(f"`{p}`" for p in PRIORITIES),
                status_code=400,
            )
        data = _multipart_field(
            request.headers.get("content-type", ""), await request.body(), "snapshot"
        )
        if data is None:
            return _error(400, "Bad request: No snapshot file in the request", started)
        expected = request.query_params.get("checksum")
        actual = hashlib.sha256(data).hexdigest()
        if expected and expected != actual:
            return _error(
                400,
                f"Bad request: Snapshot checksum mismatch: expected {expected}, got {actual}",
                started,
            )
        app.state.uploads[name] = data
        try:
            app.state.collections[name] = unpack(data)
        except ValueError as exc:
            return _error(400, f"Bad request: {exc}", started)
        return _ok(True, started)

    return app


def _describe(snapshot: str, data: bytes, at: dt.datetime) -> dict[str, Any]:
    return {
        "name": snapshot,
        "creation_time": at.strftime("%Y-%m-%dT%H:%M:%S"),
        "size": len(data),
        "checksum": hashlib.sha256(data).hexdigest(),
    }
