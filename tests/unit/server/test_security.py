"""The attacker's probes of the security review, each a clear 4xx on every surface.

In-process over the embedded defaults and fake models; the same probes over real HTTP
against PostgreSQL are in `tests/integration/test_security_fuzz.py` and
`tests/integration/test_postgres_text.py`.
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage

from checkpoints.open import strict_serializer
from server.app import create_app
from server.settings import Settings
from server.shown_url import shown_url
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving
from tests.support_runs import api_keys

SERVER_FILES = ["/etc/shadow", "/proc/self/environ", "/etc/hostname", "/etc"]


def ingest_routes(paths: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every surface that starts an ingest, with `paths` as its input."""
    run = {"assistant_id": "ingest", "input": {"paths": paths}, "interrupt_after": ["load"]}
    return [
        ("/workflows/ingest/invoke", {"input": {"paths": paths}}),
        ("/workflows/ingest/batch", {"inputs": [{"paths": paths}]}),
        ("/runs/wait", run),
        ("/threads/t-1/runs/wait", {**run, "if_not_exists": "create"}),
        ("/runs", run),
        ("/v1/orchestrate", {"workflow": "ingest", "input": {"paths": paths}}),
    ]


@pytest.fixture
async def anonymous(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, models=fake_models(), embedder=fake_embedder())
    async with serving(app) as client:
        yield client


def refusal(response: httpx.Response) -> str:
    body = response.json()
    if "error" in body:
        return str(body["error"]["message"])
    detail = body["detail"]
    if isinstance(detail, list):
        return "; ".join(str(item["msg"]) for item in detail)
    return str(detail)


@pytest.mark.parametrize("path", SERVER_FILES)
async def test_server_files_need_the_admin_scope_on_every_surface(
    anonymous: httpx.AsyncClient, path: str
) -> None:
    for route, body in ingest_routes([path]):
        response = await anonymous.post(route, json=body)
        assert response.status_code == 403, (route, response.text)
        assert "admin scope" in refusal(response)
        assert "root:" not in response.text and "PATH=" not in response.text


async def test_a_state_update_cannot_smuggle_paths_in(anonymous: httpx.AsyncClient) -> None:
    run = {
        "assistant_id": "ingest",
        "command": {"update": {"paths": ["/etc/hostname"]}, "goto": "load"},
        "if_not_exists": "create",
    }
    response = await anonymous.post("/threads/t-2/runs/wait", json=run)
    assert response.status_code == 403, response.text


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "shared-docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "guide.md").write_text("# Guide\nThe crane inspection is on Friday.\n")
    (folder / "sub" / "notes.txt").write_text("Project Falcon was led by Ingrid Solberg.\n")
    return folder


@pytest.fixture
async def admin(tmp_path: Path, root: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path / "var", anonymous_scopes="run ingest admin", ingest_roots=str(root)
    )
    async with serving(
        create_app(settings, models=fake_models(), embedder=fake_embedder())
    ) as client:
        yield client


async def test_an_admin_ingests_a_folder_inside_the_roots(
    admin: httpx.AsyncClient, root: Path
) -> None:
    response = await admin.post("/workflows/ingest/invoke", json={"input": {"paths": [str(root)]}})
    assert response.status_code == 200, response.text
    assert response.json()["output"]["sources"] == [
        str(root / "guide.md"),
        str(root / "sub" / "notes.txt"),
    ]


async def test_refusals_outside_the_roots_draw_no_map_of_the_disk(
    admin: httpx.AsyncClient, root: Path, tmp_path: Path
) -> None:
    unreadable = tmp_path / "secret.md"
    unreadable.write_text("secret")
    unreadable.chmod(0)
    binary = tmp_path / "blob.md"
    binary.write_bytes(b"\xd0\xff\x00")
    probes = [
        "/etc/shadow",
        "/no/such/file.md",
        str(unreadable),
        str(binary),
        str(root / ".." / "secret.md"),
    ]
    messages = set()
    for probe in probes:
        for route, body in ingest_routes([probe]):
            response = await admin.post(route, json=body)
            expected = 400 if route.startswith("/v1/") else 422
            assert response.status_code == expected, (route, probe, response.text)
            messages.add(refusal(response).replace(repr(probe), "PATH").replace("'", ""))
    # One wording for every probe (a list of one error in FastAPI's format, or a string).
    assert len({message.split("PATH")[-1] for message in messages}) == 1, messages
    assert "outside the folders this server lets admins ingest" in messages.pop()


async def test_a_link_out_of_a_root_is_refused(admin: httpx.AsyncClient, root: Path) -> None:
    (root / "escape.md").symlink_to("/etc/hostname")
    response = await admin.post("/workflows/ingest/invoke", json={"input": {"paths": [str(root)]}})
    assert response.status_code == 422
    assert "holds a link that is outside" in response.text


async def test_a_non_utf8_file_in_a_root_is_422_and_nothing_is_written(
    admin: httpx.AsyncClient, root: Path
) -> None:
    (root / "latin1.md").write_bytes("café".encode("latin-1"))
    response = await admin.post("/workflows/ingest/invoke", json={"input": {"paths": [str(root)]}})
    assert response.status_code == 422, response.text
    assert "latin1.md' is not UTF-8 text" in response.text
    kb = admin._transport.app.state.resources.knowledge_base  # type: ignore[attr-defined]
    assert await kb.count("documents", "public") == 0


async def test_api_keys_carry_scopes(tmp_path: Path, root: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", auth_mode="api_key", ingest_roots=str(root))
    async with serving(
        create_app(settings, models=fake_models(), embedder=fake_embedder())
    ) as client:
        keys = client._transport.app.state.resources.auth.keys  # type: ignore[attr-defined]
        (ordinary,) = await api_keys(settings, "alice")
        runner, _ = await keys.create(name="runner", owner="bob", scopes=frozenset({"run"}))
        feeder, _ = await keys.create(name="feeder", owner="dan", scopes=frozenset({"ingest"}))
        operator, _ = await keys.create(
            name="ops", owner="carol", scopes=frozenset({"run", "ingest", "admin"})
        )

        async def ingest(key: str, body: dict[str, Any]) -> httpx.Response:
            headers = {"Authorization": f"Bearer {key}"}
            return await client.post("/workflows/ingest/invoke", json=body, headers=headers)

        sent = {"input": {"files": [{"source": "a.md", "text": "Falcon."}]}}
        assert (await ingest(ordinary, sent)).status_code == 200
        assert (await ingest(runner, sent)).status_code == 403
        assert (await ingest(feeder, sent)).status_code == 200  # `ingest` alone ingests
        asked = {"input": {"question": "Falcon?"}}
        chat = await client.post(
            "/workflows/rag/invoke", json=asked, headers={"Authorization": f"Bearer {feeder}"}
        )
        assert chat.status_code == 403 and "'run' scope" in chat.text, chat.text
        server_paths = {"input": {"paths": [str(root)]}}
        assert (await ingest(ordinary, server_paths)).status_code == 403
        assert (await ingest(operator, server_paths)).status_code == 200
        listed = {record.owner: record.scopes for record in await keys.list()}
        assert listed == {
            "alice": {"run", "ingest"},
            "bob": {"run"},
            "dan": {"ingest"},
            "carol": {"run", "ingest", "admin"},
        }


NUL = "a\x00b"


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("POST", "/threads", {"metadata": {"note": NUL}}),
        ("POST", "/threads/search", {"metadata": {"note": NUL}}),
        ("POST", "/threads", {"thread_id": NUL}),
        ("GET", "/threads/a%00b", None),
        ("GET", "/threads/search?x=%00", None),
        ("POST", "/runs/wait", {"assistant_id": "rag", "input": {"question": NUL}}),
        ("POST", "/threads/t/runs", {"assistant_id": "rag", "input": {"question": NUL}}),
        ("POST", "/workflows/rag/invoke", {"input": {"question": NUL}}),
        ("POST", "/workflows/ingest/invoke", {"input": {"texts": [NUL]}}),
        ("POST", "/v1/orchestrate", {"workflow": "rag", "input": {"question": NUL}}),
        (
            "POST",
            "/agui/agent",
            {
                "threadId": "t",
                "runId": "r",
                "messages": [{"id": "u", "role": "user", "content": NUL}],
            },
        ),
    ],
)
async def test_text_the_database_cannot_store_is_a_4xx_in_the_surface_s_envelope(
    anonymous: httpx.AsyncClient, method: str, route: str, body: Any
) -> None:
    response = await anonymous.request(method, route, json=body)
    openai = route.startswith("/v1/")
    assert response.status_code == (400 if openai else 422), response.text
    text = refusal(response)
    assert "U+0000" in text


BEYOND_64_BITS = "123456789012345678901234567890"


@pytest.mark.parametrize(
    ("route", "body", "problem"),
    [
        ("/threads", '{"metadata": {"n": BIG}}', "64 bits"),
        ("/threads", '{"metadata": {"n": NaN}}', "NaN"),
        ("/threads/search", '{"metadata": {"n": -Infinity}}', "NaN"),
        ("/runs/wait", '{"assistant_id": "rag", "input": {"question": 1e400}}', "NaN"),
        ("/threads/t/runs", '{"assistant_id": "rag", "input": {"n": -BIG}}', "64"),
        ("/assistants", '{"graph_id": "rag", "config": {"configurable": {"n": Infinity}}}', "NaN"),
        ("/store/items", '{"namespace": ["a"], "key": "k", "value": {"n": BIG}}', "64"),
        ("/workflows/rag/invoke", '{"input": {"question": "q"}, "config": {"n": NaN}}', "NaN"),
        ("/v1/orchestrate", '{"workflow": "rag", "input": {"n": BIG}}', "64"),
        ("/agui/agent", '{"threadId": "t", "runId": "r", "state": {"n": 1E+999}}', "NaN"),
    ],
)
async def test_numbers_no_store_can_write_are_a_4xx_in_the_surface_s_envelope(
    anonymous: httpx.AsyncClient, route: str, body: str, problem: str
) -> None:
    """NaN, infinities and integers beyond 64 bits (`BIG`) parse in Python, but no
    checkpoint, event stream or JSON answer can carry them: refused, saying where."""
    method = "PUT" if route == "/store/items" else "POST"
    response = await anonymous.request(
        method,
        route,
        content=body.replace("BIG", BEYOND_64_BITS),
        headers={"content-type": "application/json"},
    )
    openai = route.startswith("/v1/")
    assert response.status_code == (400 if openai else 422), response.text
    assert problem in refusal(response)


def nested(levels: int) -> str:
    """A JSON object `levels` deep."""
    return '{"a": ' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("POST", "/threads", '{"metadata": DEEP}'),
        ("POST", "/threads/search", '{"metadata": DEEP}'),
        ("POST", "/runs/wait", '{"assistant_id": "rag", "input": {"question": "q", "x": DEEP}}'),
        ("PUT", "/store/items", '{"namespace": ["a"], "key": "k", "value": DEEP}'),
        ("POST", "/workflows/rag/invoke", '{"input": {"question": "q"}, "config": DEEP}'),
        ("POST", "/v1/orchestrate", '{"workflow": "rag", "input": DEEP}'),
        ("POST", "/agui/agent", '{"threadId": "t", "runId": "r", "state": DEEP}'),
    ],
)
@pytest.mark.parametrize("levels", [128, 600, 5000])
async def test_json_nested_past_the_limit_is_a_4xx_in_the_surface_s_envelope(
    anonymous: httpx.AsyncClient, method: str, route: str, body: str, levels: int
) -> None:
    """orjson, which writes event streams and jsonb, stops at 255 levels: a thread whose
    metadata nested 600 deep was a 500. Past 128 levels (the body is one) it is refused."""
    response = await anonymous.request(
        method,
        route,
        content=body.replace("DEEP", nested(levels)),
        headers={"content-type": "application/json"},
    )
    openai = route.startswith("/v1/")
    assert response.status_code == (400 if openai else 422), response.text
    assert "nested deeper than 128 levels" in refusal(response)


async def test_json_nested_to_the_limit_is_stored_and_read_back(
    anonymous: httpx.AsyncClient,
) -> None:
    metadata = json.loads(nested(127))
    created = await anonymous.post("/threads", json={"metadata": metadata})
    assert created.status_code == 200, created.text
    thread = await anonymous.get(f"/threads/{created.json()['thread_id']}")
    assert thread.json()["metadata"] == metadata
    wide = {"messages": [{"id": f"m{i}", "n": [i]} for i in range(500)]}
    assert (await anonymous.post("/threads", json={"metadata": wide})).status_code == 200


SLASHED = "a/../b"
CHAT = {"messages": [{"type": "human", "content": "hi"}]}


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/threads", {"thread_id": SLASHED}),
        (
            "/workflows/agent/invoke",
            {"input": CHAT, "config": {"configurable": {"thread_id": SLASHED}}},
        ),
        (
            "/agui/agent",
            {
                "threadId": SLASHED,
                "runId": "r",
                "messages": [{"id": "u", "role": "user", "content": "hi"}],
            },
        ),
    ],
)
async def test_a_thread_id_with_a_slash_is_422_on_every_surface_and_nothing_is_stored(
    anonymous: httpx.AsyncClient, route: str, body: dict[str, Any]
) -> None:
    """Routers decode `%2F` before matching, so no `/threads/{id}` route could ever reach
    such a thread again (it could be made, then neither read nor deleted)."""
    response = await anonymous.post(route, json=body)
    assert response.status_code == 422, response.text
    assert "may not contain '/'" in response.text
    found = await anonymous.post("/threads/search", json={"ids": [SLASHED]})
    assert found.json() == []


async def test_a_refused_state_update_leaves_the_thread_as_it_was(
    anonymous: httpx.AsyncClient,
) -> None:
    thread = (await anonymous.post("/threads", json={})).json()["thread_id"]
    run = {"assistant_id": "rag", "input": {"question": "What is kept?"}}
    first = await anonymous.post(f"/threads/{thread}/runs/wait", json=run)
    assert first.status_code == 200, first.text
    before = (await anonymous.get(f"/threads/{thread}/state")).json()
    refused = await anonymous.post(
        f"/threads/{thread}/state",
        content='{"values": {"question": BIG}}'.replace("BIG", BEYOND_64_BITS),
        headers={"content-type": "application/json"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "values", "question"]
    after = (await anonymous.get(f"/threads/{thread}/state")).json()
    assert after == before


async def test_the_same_bytes_inside_strings_and_64_bit_integers_are_accepted(
    anonymous: httpx.AsyncClient,
) -> None:
    note = f"NaN Infinity {BEYOND_64_BITS} 1e400"
    body = {"metadata": {"note": note, "max": 2**64 - 1, "min": -(2**63)}}
    response = await anonymous.post("/threads", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"note": note, "max": 2**64 - 1, "min": -(2**63)}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
async def test_the_door_reads_every_encoding_the_routes_parse(
    anonymous: httpx.AsyncClient, encoding: str
) -> None:
    """Python's JSON parser reads UTF-16 and UTF-32 too: a NUL or a huge integer escaped in
    them is refused like one in UTF-8, and an ordinary body in them still works."""
    headers = {"content-type": "application/json"}
    for value, problem in (('"a\\u0000b"', "U+0000"), (BEYOND_64_BITS, "64 bits")):
        body = '{"metadata": {"note": VALUE}}'.replace("VALUE", value).encode(encoding)
        response = await anonymous.post("/threads", content=body, headers=headers)
        assert response.status_code == 422, response.text
        assert problem in refusal(response)
    plain = '{"metadata": {"note": "fine"}}'.encode(encoding)
    response = await anonymous.post("/threads", content=plain, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"note": "fine"}


async def test_embeddings_accept_nul_as_openai_does(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/v1/embeddings", json={"model": "embed-01", "input": NUL})
    assert response.status_code == 200, response.text


async def test_a_7_mb_embedding_input_is_refused_by_its_length(
    anonymous: httpx.AsyncClient,
) -> None:
    huge = "word " * (7 * 2**20 // 5)
    response = await anonymous.post("/v1/embeddings", json={"model": "embed-01", "input": huge})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "characters" in error["message"]


BAD_COLLECTIONS = ["a b", "Ä漢", "..", "x" * 300, "", 7]


@pytest.mark.parametrize("collection", BAD_COLLECTIONS)
async def test_one_rule_for_collections_on_every_surface(
    anonymous: httpx.AsyncClient, collection: object
) -> None:
    langserve = await anonymous.post(
        "/workflows/rag/invoke",
        json={"input": {"question": "q"}, "config": {"configurable": {"collection": collection}}},
    )
    runs = await anonymous.post(
        "/runs/wait",
        json={
            "assistant_id": "rag",
            "input": {"question": "q"},
            "context": {"collection": collection},
        },
    )
    if collection == "":
        # Empty means "the default", as LangServe's configurable always meant.
        assert langserve.status_code == runs.status_code == 200
        return
    assert runs.status_code == 422, runs.text
    if not isinstance(collection, str):  # LangServe's own config schema refuses a number
        assert langserve.status_code == 422, langserve.text
        return
    assert langserve.status_code == 400, langserve.text
    assert "collection must be 1 to 64 ASCII letters" in langserve.text
    assert "collection must be 1 to 64 ASCII letters" in runs.text


@dataclass
class Gadget:
    """A type no checkpoint should be able to make the server build."""

    power: int


def test_checkpoints_are_read_back_only_into_safe_types() -> None:
    blob = strict_serializer().dumps_typed(Gadget(9))
    assert not isinstance(strict_serializer().loads_typed(blob), Gadget)
    allowed = strict_serializer([f"{Gadget.__module__}.Gadget"])
    assert allowed.loads_typed(blob) == Gadget(9)
    message = HumanMessage("hello", id="m-1")
    assert strict_serializer().loads_typed(strict_serializer().dumps_typed(message)) == message


def test_shown_urls_carry_no_credentials() -> None:
    assert (
        shown_url("http://user:SEKRET@127.0.0.7:8000/v1?key=SEKRET#x") == "http://127.0.0.7:8000/v1"
    )
    assert shown_url("http://[::1]:9/v1") == "http://[::1]:9/v1"


async def test_model_server_credentials_reach_no_public_answer(settings: Settings) -> None:
    """A chat server's user and password in its URL were in `/health/detailed` and
    `/metrics` (both public) as part of the model's label."""
    secret = "http://llmuser:SEKRET@127.0.0.1:9/v1"
    configured = settings.model_copy(
        update={"chat_provider": "openai", "llm01_url": secret, "llm02_url": secret}
    )
    app = create_app(configured, embedder=fake_embedder())
    async with serving(app) as client:
        health = await client.get("/health/detailed")
        metrics = await client.get("/metrics")
    assert "127.0.0.1:9" in health.text
    assert "SEKRET" not in health.text and "llmuser" not in health.text
    assert "SEKRET" not in metrics.text
