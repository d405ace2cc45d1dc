"""Process settings: where the dependencies live and how big the pools are.

Per-run knobs (top-k, model alias, collection) are not here: they travel in the
LangGraph runtime context (`graphs.context.Context`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin

from limits import parse_many
from pydantic import (
    AnyHttpUrl,
    Field,
    IPvAnyNetwork,
    PostgresDsn,
    RedisDsn,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from server.auth.scopes import DEFAULT_SCOPES, parse_scopes
from server.runs.thread_ttl_config import ThreadTTLConfig
from server.store.config import StoreIndex, StoreTTL

Profile = Literal["development", "testing", "production"]
EmbeddingProvider = Literal["local", "ollama", "openai"]
ChatProvider = Literal["local", "openai", "ollama"]

# Defaults that a profile sets when the variable itself is not given. Development and
# testing use only embedded parts; production carries the original network's addresses.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "development": {},
    "testing": {"data_dir": "./var/testing"},
    "production": {
        "postgres_url": "postgresql://orca@192.168.10.35:5432/orca",
        "qdrant_url": "http://192.168.10.30:6333",
        "ollama_url": "http://127.0.0.1:11434",
        "llm01_url": "http://192.168.10.34:8002/v1",
        "llm02_url": "http://192.168.10.28:8000/v1",
        "prometheus_url": "http://192.168.10.37:9090",
        "grafana_url": "http://192.168.10.37:3000",
        "embedding_provider": "ollama",
        "embedding_model": "nomic-embed-text",
        "chat_provider": "openai",
    },
}


class Settings(BaseSettings):
    """Citadel Orca's process settings, read from `ORCA_*` variables and `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="ORCA_",
        env_file=".env",
        extra="ignore",
        validate_default=True,
        use_attribute_docstrings=True,
    )

    profile: Profile = "development"
    """Which defaults apply: `development` (embedded parts), `testing`, `production`."""
    data_dir: Path = Path("./var")
    """Where embedded parts keep their files (SQLite checkpoints, local Qdrant)."""
    host: str = "127.0.0.1"
    """Interface `orca serve` binds (a non-loopback address serves the network)."""
    port: int = Field(default=8000, ge=1, le=65535)
    """Port `orca serve` listens on."""
    server_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    """Where the CLI finds a running server."""

    postgres_url: PostgresDsn | None = None
    """Unset: SQLite checkpoints under the data dir."""
    postgres_pool_max: int = Field(default=10, ge=1)
    """Most connections in the checkpointer's pool."""
    postgres_pool_timeout_s: float = Field(default=5.0, gt=0)
    """Longest wait for a pooled PostgreSQL connection; then 503 (e.g. while PostgreSQL is
    down), not a hang."""
    postgres_pool_max_waiting: int = Field(default=64, ge=1)
    """Requests that may queue for a PostgreSQL connection; one more is refused with 503 at once."""
    postgres_prepared_statements: bool = True
    """Prepare the statements a pooled connection runs repeatedly (PostgreSQL then skips
    parsing and planning them); false behind PgBouncer older than 1.21 in transaction mode."""
    qdrant_url: AnyHttpUrl | None = None
    """Unset: qdrant-client local mode under the data dir (one process holds its lock)."""
    qdrant_api_key: SecretStr | None = None
    """API key of a remote Qdrant."""
    collection: str = Field(default="documents", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """Default Qdrant collection for ingest and retrieval."""

    ollama_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:11434")
    """Ollama, beside the service (embeddings and chat providers `ollama`)."""
    llm01_url: AnyHttpUrl | None = None
    """OpenAI-compatible base URL of LLM-01 (chat provider `openai`)."""
    llm02_url: AnyHttpUrl | None = None
    """OpenAI-compatible base URL of LLM-02; unset: the same server as LLM-01."""
    llm01_model: str = "llm-01"
    """Model name LLM-01 serves."""
    llm02_model: str = "llm-02"
    """Model name LLM-02 serves."""
    llm_api_key: SecretStr = SecretStr("not-needed")
    """Bearer key for the OpenAI-compatible model servers."""
    prometheus_url: AnyHttpUrl | None = None
    """Prometheus of the production network (used by the `deploy/` configs)."""
    grafana_url: AnyHttpUrl | None = None
    """Grafana of the production network (used by the `deploy/` configs)."""

    chat_provider: ChatProvider = "local"
    """`local` (SmolLM2 in-process), `openai` (LLM-01/02 by URL) or `ollama`."""
    chat_ollama_model: str = "llama3.2"
    """Chat model name when the chat provider is `ollama`."""
    chat_context_tokens: int = Field(default=2048, ge=256)
    """Context window of the in-process chat model. A longer prompt is cut to fit, leaving
    the answer room: earlier turns go first (oldest first), then the end of the retrieved
    passages, then the end of the last message; the thread's messages are kept whole."""
    chat_max_tokens: int = Field(default=160, ge=1)
    """Longest answer, in tokens."""
    embedding_provider: EmbeddingProvider = "local"
    """`local` (all-MiniLM-L6-v2 in-process), `ollama` (/api/embed) or `openai`."""
    embedding_alias: str = "embed-01"
    """The name workflows and clients use for the embedding model."""
    embedding_model: str = "all-minilm-l6-v2"
    """The provider's own model name behind the alias."""
    embedding_url: AnyHttpUrl | None = None
    """Base URL of an OpenAI-compatible embeddings server (provider `openai`)."""
    embedding_batch_size: int = Field(default=64, ge=1, le=2048)
    """Most inputs sent to the provider in one call; bigger requests are split."""
    embedding_aliases: list[str] = Field(default_factory=list)
    """More names for the same model on `/v1/embeddings`, e.g. `["text-embedding-3-small"]`."""
    embedding_truncatable: bool = False
    """The model was trained for Matryoshka truncation, so `dimensions` may shorten vectors."""
    embedding_max_input_tokens: int | None = Field(default=None, ge=1)
    """Per-input token limit; unset: the local model's own limit, or the server's refusal."""
    embedding_truncate: bool = False
    """Cut over-long inputs to the limit instead of refusing them with 400."""
    embedding_version: str = ""
    """Version tag of an `openai`-provider model, part of the cache key (Ollama: its digest)."""
    embedding_cache_bytes: int = Field(default=256 * 2**20, ge=0)
    """In-process (L1) embedding cache size in bytes; 0 turns it off."""
    embedding_cache_postgres: bool = True
    """Share embeddings in PostgreSQL (L2) when `postgres_url` is set."""
    embedding_max_inflight: int = Field(default=4, ge=1, le=256)
    """Concurrent calls to the embedding provider (the in-process model: at most one per core)."""
    embedding_max_wait_ms: float = Field(default=0.0, ge=0, le=100)
    """How long a batch may wait to fill while the provider is idle (0: send at once)."""
    embedding_max_queue: int = Field(default=16384, ge=1)
    """Inputs that may wait for the provider; beyond it, requests get 503 + Retry-After."""
    embedding_queue_timeout_s: float = Field(default=30.0, gt=0)
    """How long a request may wait for the provider before 503 + Retry-After."""
    embedding_max_body_bytes: int = Field(default=8 * 2**20, ge=1024)
    """Largest `/v1/embeddings` request body; beyond it, 413."""
    embedding_fallback_provider: Literal["ollama", "openai"] | None = None
    """A second embedding provider that answers while the first fails or its circuit is open
    (`ollama` or `openai`; unset: none). Use the same model served elsewhere: its vectors are
    cached under its own identity, and one of another size is never used."""
    embedding_fallback_model: str = ""
    """The fallback provider's model name (unset: `embedding_model`)."""
    embedding_fallback_url: AnyHttpUrl | None = None
    """The fallback's base URL (Ollama's, or an OpenAI-compatible `/v1`)."""
    embedding_fallback_version: str = ""
    """Version tag of an `openai`-provider fallback model, part of its cache key."""

    chunk_size: int = Field(default=256, ge=16)
    """Tokens per chunk when ingesting, as the embedding model counts them (with the [CLS] and
    [SEP] it adds); lowered to the model's input limit (`ORCA_EMBEDDING_MAX_INPUT_TOKENS`, or
    the local model's 256)."""
    chunk_overlap: int = Field(default=32, ge=0)
    """Tokens shared by neighbouring chunks."""
    chunk_chars_per_token: float = Field(default=2.0, gt=0, le=8)
    """Characters counted as one token when the model's tokenizer is unknown (providers
    `ollama`, `openai`): keep it at or below the fewest your documents have (this repo's
    docs: 2.0 at fewest, 3.1 typically, per all-MiniLM-L6-v2 token; CJK text: about 1)."""
    top_k: int = Field(default=4, ge=1, le=50)
    """Passages retrieval returns by default."""
    upstream_timeout_s: float = Field(default=60.0, gt=0)
    """One attempt's timeout for a model server call, in seconds (a whole non-streamed answer)."""
    upstream_connect_timeout_s: float = Field(default=5.0, gt=0)
    """Connecting to a chat model server; an unreachable one fails (and is retried) after it."""
    upstream_deadline_s: float = Field(default=120.0, gt=0)
    """Total time for one logical call to a chat, embedding or Qdrant server: every attempt,
    backoff and (for a stream) token included."""
    stream_first_token_timeout_s: float = Field(default=30.0, gt=0)
    """A streamed answer's first token must arrive within this; until then the call is retried."""
    stream_idle_timeout_s: float = Field(default=30.0, gt=0)
    """Longest silence between streamed tokens; after the first token the stream fails (502,
    or `RUN_ERROR`), never retried."""
    retry_attempts: int = Field(default=3, ge=1, le=10)
    """Attempts per logical upstream call, the first included, on connect errors, timeouts, 408,
    429 and 5xx (never on another 4xx)."""
    retry_initial_s: float = Field(default=0.2, gt=0)
    """Upper bound of the first backoff; it doubles per retry, with full jitter."""
    retry_max_s: float = Field(default=5.0, gt=0)
    """Upper bound of any backoff between two attempts."""
    retry_after_cap_s: float = Field(default=10.0, ge=0)
    """Longest `Retry-After` honoured; a server asking for more is not retried, and its wait
    goes to the client."""
    breaker_failures: int = Field(default=5, ge=1)
    """Consecutive failed attempts (connect errors, timeouts, 5xx; never a 4xx) that open an
    upstream's circuit."""
    breaker_reset_s: float = Field(default=30.0, gt=0)
    """How long an open circuit fails fast before it lets a probe call through (half-open)."""
    chat_max_concurrency: int = Field(default=16, ge=1)
    """Concurrent calls to each chat server (LLM-01, LLM-02); more wait, within the deadline."""
    qdrant_max_concurrency: int = Field(default=32, ge=1)
    """Concurrent calls to Qdrant; more wait, within the deadline."""

    max_body_bytes: int = Field(default=2**20, ge=1024)
    """Largest request body outside `/v1/*` (which uses the embeddings limit); beyond it, 413."""
    body_timeout_s: float = Field(default=60.0, gt=0)
    """Longest wait for a request body to arrive whole, from the app's first read; then 408."""
    header_timeout_s: float = Field(default=10.0, gt=0)
    """Longest wait for a request's line and headers, from the connection's opening or the
    request's first byte; then the connection is closed (no request was read to answer)."""
    rate_limit: str = "120/minute"
    """Requests per identity on every route but health and metrics, e.g. `10/second;120/minute`;
    empty: no limit."""
    rate_limit_runs: str = "30/minute"
    """Runs per identity started over AG-UI or LangServe (`invoke`, `batch`, `stream*`), on top
    of `rate_limit` (each run of a batch counts); empty: no limit."""
    redis_url: RedisDsn | None = None
    """Redis holding the rate-limit counters, shared by every process; unset: each process
    counts in its own memory."""
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    """Proxies (IPs or CIDRs, JSON list) whose `X-Forwarded-For` names the client; from any
    other peer the header is ignored."""
    max_streams_per_identity: int = Field(default=4, ge=1)
    """Concurrent streams (AG-UI runs, LangServe `stream*`) per identity and process; one more
    is 429."""
    recursion_limit: int = Field(default=25, ge=1)
    """Most graph steps one run may take (LangGraph's `recursion_limit`)."""
    run_timeout_s: float = Field(default=300.0, gt=0)
    """Longest a run may take, in seconds: LangServe answers 504, AG-UI ends with `RUN_TIMEOUT`."""
    cors_origins: list[str] = Field(default_factory=list)
    """Browser origins allowed to call the API (JSON list, e.g. `["https://app.example"]`);
    empty: no CORS headers."""

    auth_mode: Literal["none", "api_key", "clerk", "both"] = "none"
    """Who may call: `none` (everyone is one shared identity; loud warning off loopback),
    `api_key` (`orca keys create`), `clerk` (Clerk session JWTs), or `both`."""
    clerk_issuer: AnyHttpUrl | None = None
    """Clerk Frontend API URL: the tokens' required `iss`, and where the JWKS lives."""
    clerk_jwks_url: AnyHttpUrl | None = None
    """JWKS URL; unset: `<clerk_issuer>/.well-known/jwks.json`."""
    clerk_authorized_parties: list[str] = Field(default_factory=list)
    """Origins a token's `azp` must be one of (JSON list); empty: `azp` not checked."""
    jwks_min_refresh_s: float = Field(default=60.0, gt=0)
    """Least time between JWKS fetches triggered by unknown key ids."""
    clerk_scopes_claim: str = "orca_scopes"
    """Claim of a Clerk token holding its scopes (a list, or a space separated string, e.g. from
    a session token template); a token without it gets the default scopes `run ingest`."""
    auth_path: str | None = None
    """A LangGraph project's own auth (langgraph.json `auth.path`): `./file.py:attr` (relative
    to `ORCA_AUTH_BASE_DIR`, else the working folder) or `module:attr`, a `langgraph_sdk.Auth`.
    Set, its `@auth.authenticate` decides who calls on every surface instead of
    `ORCA_AUTH_MODE`, and its `@auth.on` handlers authorize threads and runs (docs/security.md)."""
    auth_base_dir: Path | None = None
    """Folder a relative `ORCA_AUTH_PATH` file is resolved from (the project's folder)."""
    anonymous_scopes: Annotated[frozenset[str], NoDecode] = DEFAULT_SCOPES
    """Scopes of the shared identity when `ORCA_AUTH_MODE=none` (space or comma separated);
    add `admin` only on a machine whose every user may read `ORCA_INGEST_ROOTS`."""
    ingest_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    """Folders whose files admins may ingest by server path (`paths`), separated by `:` or `,`;
    empty (the default): server paths are refused. Everything else sends file contents."""
    metrics_enabled: bool = True
    """Serve `/metrics` and count requests, runs, model calls; off only to measure their cost."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level of log lines written."""
    log_format: Literal["json", "text"] = "json"
    """`json`: one JSON object per line (for journald and log shippers); `text` for a terminal."""
    langsmith_tracing: bool = False
    """Send LangChain traces to LangSmith (needs `LANGSMITH_API_KEY`); off unless set here."""
    otel_endpoint: AnyHttpUrl | None = None
    """OTLP/HTTP collector for OpenTelemetry traces (extra `otel`); unset: no tracing."""
    run_workers: int = Field(default=32, ge=0, le=256)
    """Runs of the threads-and-runs API this process executes at once; 0: this process only
    serves HTTP and queues runs for `orca worker` processes (needs PostgreSQL)."""
    run_lease_s: float = Field(default=30.0, gt=0)
    """A worker's claim on a running run lasts this long unless its heartbeat renews it."""
    run_heartbeat_s: float = Field(default=5.0, gt=0)
    """How often a worker renews the lease of each run it executes."""
    run_sweep_interval_s: float = Field(default=5.0, gt=0)
    """How often the sweeper puts runs whose lease expired (a dead worker) back in the queue."""
    run_poll_s: float = Field(default=1.0, gt=0)
    """Longest a worker waits between queue checks when no notification wakes it."""
    run_drain_s: float = Field(default=30.0, ge=0)
    """At shutdown, running runs get this long to finish; the rest go back to the queue."""
    run_max_attempts: int = Field(default=3, ge=1)
    """A run whose workers died this many times is marked `error` instead of requeued."""
    cron_poll_s: float = Field(default=5.0, ge=0)
    """Longest the cron scheduler waits between checks for due crons (it also wakes when the
    next one is due); 0: this process fires no crons, as one with `ORCA_RUN_WORKERS=0`."""
    stream_buffer_ttl_s: float = Field(default=600.0, gt=0)
    """How long a run's events stay available for `Last-Event-ID` replay after they were sent."""
    keepalive_s: float = Field(default=5.0, gt=0)
    """Idle interval after which a stream sends a `: heartbeat` comment and `/wait` a newline
    (A2A streams send `: ping` twice per interval)."""
    webhook_allow_private: bool = False
    """Let run webhooks reach loopback and private addresses (off: a caller could otherwise
    make the server call its own network)."""
    checkpoint_allowed_types: list[str] = Field(default_factory=list)
    """Types (`"module.Class"`, JSON list) a checkpoint may be read back into beside LangGraph's
    safe list (messages, documents, dates...): checkpoints are read in LangGraph's strict msgpack
    mode; a graph of `ORCA_GRAPHS` keeping its own classes in state lists them here."""
    store_index: StoreIndex | None = None
    """Semantic search in the store (`langgraph.json` `store.index`), JSON: `dims`, `embed`
    (this service's embedding model, e.g. `embed-01`), `fields` (JSON paths, default `["$"]`);
    unset: a search's `query` is ignored and items come newest first (docs/store.md)."""
    store_ttl: StoreTTL = Field(default_factory=StoreTTL)
    """Store item expiry (`langgraph.json` `store.ttl`), JSON: `default_ttl` (minutes),
    `refresh_on_read`, `sweep_interval_minutes`."""
    thread_ttl: ThreadTTLConfig = Field(default_factory=ThreadTTLConfig)
    """Thread expiry (`langgraph.json` `checkpointer.ttl`), JSON: `default_ttl` (minutes,
    for threads created without a `ttl`), `strategy` (`delete` or `keep_latest`),
    `sweep_interval_minutes`, `sweep_limit` (threads per sweep)."""
    store_max_value_bytes: int = Field(default=2**20, ge=1024)
    """Largest store item value, as JSON; a bigger one is refused with 413."""
    graphs: dict[str, str] = Field(default_factory=dict)
    """More graphs to serve beside the built-in workflows, on every surface, as a JSON object
    of name to `module:attribute` or `./file.py:attribute`: a compiled graph, a `StateGraph`,
    or a `build_graph(checkpointer=)` function (e.g. `{"mine": "my_pkg.graph:build_graph"}`)."""
    config: Path | None = None
    """A LangGraph project's `langgraph.json` to serve (`orca serve --config`): its graphs on
    every surface, its `env`, `dependencies`, `store`, `auth` and `http.app` (docs/projects.md)."""
    builtin_workflows: bool = True
    """Serve the built-in workflows (rag, rag-chat, agent, ingest); `false` serves only the
    graphs of `ORCA_GRAPHS` and `ORCA_CONFIG`, e.g. a project whose graph is named `agent`."""

    @field_validator("rate_limit", "rate_limit_runs")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value:
            parse_many(value)  # refuses e.g. "100 per fortnight" at start, naming the variable
        return value

    @field_validator("anonymous_scopes", mode="before")
    @classmethod
    def _parse_scopes(cls, value: Any) -> frozenset[str]:
        return parse_scopes(value)

    @field_validator("ingest_roots", mode="before")
    @classmethod
    def _parse_roots(cls, value: Any) -> list[Path]:
        if isinstance(value, str):
            value = [part for part in value.replace(",", ":").split(":") if part.strip()]
        roots = [Path(part).expanduser() for part in value]
        relative = [str(root) for root in roots if not root.is_absolute()]
        if relative:
            raise ValueError(f"ingest roots must be absolute paths, got {relative}")
        return [root.resolve() for root in roots]

    @model_validator(mode="before")
    @classmethod
    def _apply_profile_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        profile = str(data.get("profile", "development"))
        for key, value in PROFILE_DEFAULTS.get(profile, {}).items():
            data.setdefault(key, value)
        return data

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        if self.chat_provider == "openai" and self.llm01_url is None:
            raise ValueError("llm01_url is required when chat_provider is 'openai'")
        if self.auth_mode in ("clerk", "both") and self.clerk_issuer is None:
            raise ValueError("clerk_issuer is required when auth_mode uses Clerk")
        if self.embedding_provider == "openai" and self.embedding_url is None:
            raise ValueError("embedding_url is required when embedding_provider is 'openai'")
        if self.embedding_fallback_provider is not None and self.embedding_fallback_url is None:
            raise ValueError("embedding_fallback_url is required with embedding_fallback_provider")
        return self

    @property
    def sqlite_path(self) -> Path:
        """The SQLite checkpoint file used when no PostgreSQL URL is set."""
        return self.data_dir / "checkpoints.sqlite"

    @property
    def qdrant_path(self) -> Path:
        """The qdrant-client local-mode directory used when no Qdrant URL is set."""
        return self.data_dir / "qdrant"


class SettingsError(Exception):
    """A setting has a bad value; the message is one line naming the variable."""


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment, turning validation errors into one clear line.

    Raises:
        SettingsError: naming the first bad variable, e.g. `ORCA_QDRANT_URL: ...`.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    except SourceError as exc:
        # pydantic-settings decodes list and dict variables as JSON before validation, so
        # `ORCA_CORS_ORIGINS='*'` fails there, as its own SettingsError, not a ValidationError.
        raise SettingsError(describe_source_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """Render the first pydantic error as `ORCA_<NAME>: <problem> (got <value>)`."""
    first = exc.errors()[0]
    location = [str(part) for part in first["loc"]]
    variable = f"ORCA_{location[0].upper()}" if location else "ORCA settings"
    message = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    shown = f" (got {got!r})" if isinstance(got, str | int | float) else ""
    return f"{variable}: {message}{shown}"


def describe_source_error(exc: SourceError) -> str:
    """Render a value pydantic-settings could not decode as `ORCA_<NAME>: expected ...`.

    Its message names only the field (`error parsing value for field "cors_origins" from
    source "EnvSettingsSource"`); the JSON error it wraps holds the value.
    """
    found = re.search(r'field "(\w+)"', str(exc))
    if found is None:
        return f"ORCA settings: {exc}"
    name = found.group(1)
    field = Settings.model_fields.get(name)
    origin = get_origin(field.annotation) if field is not None else None
    expected = {list: 'a JSON list, e.g. ["a", "b"]', dict: 'a JSON object, e.g. {"a": 1}'}
    cause = exc.__cause__
    got = getattr(cause, "doc", None)
    shown = f" (got {got!r})" if isinstance(got, str) else ""
    return f"ORCA_{name.upper()}: expected {expected.get(origin, 'JSON')}{shown}"
