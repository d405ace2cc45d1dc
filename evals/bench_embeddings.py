"""Benchmark `/v1/embeddings` against its upstream and LiteLLM proxy, in one run, on loopback.

A trivial OpenAI-compatible upstream (`evals/stub_embeddings.py`, one fixed 384-d vector) is
measured alone, behind Citadel Orca with the cache bypassed (every request a new text and
`Cache-Control: no-cache`), behind Orca with cache hits (one repeated text), and behind
LiteLLM proxy, with wrk at concurrency 1 and 32. Then the local MiniLM through the endpoint
(concurrent one-text requests, coalesced by the micro-batcher) against raw
`SentenceTransformer.encode` on the same texts. Prints figures and ratios; asserts nothing.

Every process runs in a private network namespace that has only loopback, so nothing can
leave the machine. Needs wrk (`apt-get install wrk`) and, for the LiteLLM row, a separate
venv with `litellm[proxy]` (`make bench-embeddings` creates it under `var/`).

    .venv/bin/python -m evals.bench_embeddings [--duration 10] [--litellm var/litellm/bin/litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE_FLAG = "ORCA_BENCH_IN_NETNS"
LITELLM_KEY = "sk-" + secrets.token_hex(32)
"""LiteLLM proxy refuses to start without a master key; every target gets the same header."""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
%(extra_headers)s
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  counter = 0
end
function request()
  counter = counter + 1
  local text = %(text)s
  local body = '{"model":"%(model)s","input":["' .. text .. '"],"encoding_format":"base64"}'
  return wrk.format(nil, "/v1/embeddings", nil, body)
end
"""


@dataclass
class Result:
    """One wrk run."""

    target: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, child: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """Poll `url` until it answers; fail as soon as the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(
    command: list[str], ready_url: str, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run a server process until the block ends."""
    log = tempfile.TemporaryFile()
    child = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=log, stderr=log)
    try:
        wait_ready(ready_url, child)
        yield
    except Exception:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-3000:])
        raise
    finally:
        child.terminate()
        child.wait(timeout=30)


def wrk(
    url: str, *, model: str, concurrency: int, duration: int, unique: bool, no_cache: bool
) -> tuple[float, float, float, int]:
    """Run wrk and return req/s, p50 ms, p99 ms and non-2xx count."""
    text = "'benchmark text ' .. tid .. '-' .. counter" if unique else "'the same text every time'"
    headers = 'wrk.headers["Cache-Control"] = "no-cache"' if no_cache else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            WRK_SCRIPT
            % {"key": LITELLM_KEY, "extra_headers": headers, "text": text, "model": model}
        )
    threads = min(2, concurrency)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{duration}s",
        "--latency",
        "-s",
        script.name,
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return rps, p50, p99, int(errors.group(1)) if errors else 0


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def measure(
    name: str, url: str, model: str, duration: int, *, unique: bool, no_cache: bool
) -> list[Result]:
    """Warm up, then measure at concurrency 1 and 32."""
    wrk(url, model=model, concurrency=8, duration=2, unique=unique, no_cache=no_cache)
    results = []
    for concurrency in (1, 32):
        rps, p50, p99, errors = wrk(
            url,
            model=model,
            concurrency=concurrency,
            duration=duration,
            unique=unique,
            no_cache=no_cache,
        )
        results.append(Result(name, concurrency, rps, p50, p99, errors))
        print(
            f"  {name:<16} c={concurrency:<3} {rps:>7.0f} req/s  p50 {p50:7.2f} ms"
            f"  p99 {p99:7.2f} ms  errors {errors}",
            flush=True,
        )
    return results


def orca_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """Return the environment of an Orca server process."""
    return {
        "ORCA_DATA_DIR": str(data_dir),
        "ORCA_PORT": str(port),
        "ORCA_HOST": "127.0.0.1",
        # wrk is one client measuring throughput; a per-client rate limit would cap it.
        "ORCA_RATE_LIMIT": "",
        "ORCA_RATE_LIMIT_RUNS": "",
        **extra,
    }


def stub_orca_env(data_dir: Path, port: int, stub: str, **extra: str) -> dict[str, str]:
    """Return the environment of an Orca whose embeddings (and unused chat) go to the stub."""
    return orca_env(
        data_dir,
        port,
        ORCA_EMBEDDING_PROVIDER="openai",
        ORCA_EMBEDDING_URL=f"{stub}/v1",
        ORCA_EMBEDDING_MODEL="stub",
        ORCA_CHAT_PROVIDER="openai",
        ORCA_LLM01_URL=f"{stub}/v1",
        ORCA_EMBEDDING_MAX_INFLIGHT="32",
        **extra,
    )


def gateway_rows(args: argparse.Namespace, work: Path) -> list[Result]:
    """Measure upstream, Orca (cache off and hits) and LiteLLM in front of the same stub."""
    stub_port, orca_port, litellm_port = free_port(), free_port(), free_port()
    stub = f"http://127.0.0.1:{stub_port}"
    results: list[Result] = []
    uvicorn = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning"]
    with process(
        [*uvicorn, "evals.stub_embeddings:app", "--port", str(stub_port)], f"{stub}/v1/models"
    ):
        print("upstream stub, Orca and LiteLLM (wrk, one text per request, base64):", flush=True)
        results += measure(
            "upstream", f"{stub}/v1/embeddings", "stub", args.duration, unique=True, no_cache=False
        )
        env = stub_orca_env(work / "orca", orca_port, stub)
        orca = f"http://127.0.0.1:{orca_port}"
        with process([str(Path(sys.executable).with_name("orca")), "serve"], f"{orca}/health", env):
            results += measure(
                "orca cache off",
                f"{orca}/v1/embeddings",
                "embed-01",
                args.duration,
                unique=True,
                no_cache=True,
            )
            results += measure(
                "orca cache hit",
                f"{orca}/v1/embeddings",
                "embed-01",
                args.duration,
                unique=False,
                no_cache=False,
            )
        if args.litellm and Path(args.litellm).exists():
            config = work / "litellm.yaml"
            config.write_text(
                "model_list:\n  - model_name: embed-01\n    litellm_params:\n"
                f"      model: openai/stub\n      api_base: {stub}/v1\n      api_key: none\n"
            )
            env = {
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_LOG": "ERROR",
                "LITELLM_MASTER_KEY": LITELLM_KEY,
                "NO_DOCS": "True",
            }
            command = [
                args.litellm,
                "--config",
                str(config),
                "--port",
                str(litellm_port),
                "--num_workers",
                "1",
            ]
            litellm = f"http://127.0.0.1:{litellm_port}"
            with process(command, f"{litellm}/health/liveliness", env):
                results += measure(
                    "litellm proxy",
                    f"{litellm}/v1/embeddings",
                    "embed-01",
                    args.duration,
                    unique=True,
                    no_cache=False,
                )
        else:
            print("  (LiteLLM skipped: pass --litellm PATH to its executable)")
    return results


def print_ratios(results: list[Result]) -> None:
    """Print throughput ratios and added latency against the upstream and LiteLLM."""
    by = {(r.target, r.concurrency): r for r in results}
    print("\nratios (same run):")
    for target in ("orca cache off", "orca cache hit"):
        upstream1, mine1 = by.get(("upstream", 1)), by.get((target, 1))
        if upstream1 and mine1:
            print(
                f"  {target}: p50 at c=1 {mine1.p50_ms - upstream1.p50_ms:+.2f} ms"
                " over the upstream alone"
            )
        litellm32, mine32 = by.get(("litellm proxy", 32)), by.get((target, 32))
        if litellm32 and mine32:
            print(f"  {target}: {mine32.rps / litellm32.rps:.1f}x LiteLLM's req/s at c=32")
        upstream32 = by.get(("upstream", 32))
        if upstream32 and mine32:
            print(f"  {target}: {mine32.rps / upstream32.rps:.2f} of the upstream's req/s at c=32")


LOCAL_SHAPES = [(32, 1), (128, 1), (8, 16), (1, 64)]
"""(concurrent clients, texts per request) for the local-model part."""


def local_model_row(args: argparse.Namespace, work: Path) -> None:
    """Compare MiniLM through the endpoint with raw `encode` on the same texts."""
    texts = [
        f"Passage {i} about {['cranes', 'green tea', 'budgets', 'harbours'][i % 4]}, item {i * 7}."
        for i in range(args.texts)
    ]
    before = _raw_encode_rate(texts)
    port = free_port()
    orca = f"http://127.0.0.1:{port}"
    env = orca_env(
        work / "orca-local",
        port,
        ORCA_CHAT_PROVIDER="openai",
        ORCA_LLM01_URL="http://127.0.0.1:9/v1",
    )
    rates = {}
    with process([str(Path(sys.executable).with_name("orca")), "serve"], f"{orca}/health", env):
        for clients, per_request in LOCAL_SHAPES:
            fresh = [f"{clients}x{per_request} {text}" for text in texts]
            rates[clients, per_request] = asyncio.run(
                _post_concurrently(f"{orca}/v1/embeddings", fresh, clients, per_request)
            )
    raw = (before + _raw_encode_rate(texts)) / 2
    print(f"\nlocal MiniLM, {len(texts)} texts: raw encode (batch 64) {raw:.0f} texts/s")
    for (clients, per_request), rate in rates.items():
        print(
            f"  /v1/embeddings, {clients:>3} clients x {per_request:>2} texts/request: "
            f"{rate:6.0f} texts/s = {rate / raw:.2f} of raw"
        )


def _raw_encode_rate(texts: list[str]) -> float:
    from server.embeddings.local_provider import load_minilm

    model = load_minilm()
    model.encode(texts[:64], batch_size=64)
    started = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True)
    return len(texts) / (time.perf_counter() - started)


async def _post_concurrently(url: str, texts: list[str], clients: int, per_request: int) -> float:
    import aiohttp

    def requests(texts: list[str]) -> list[dict[str, object]]:
        return [
            {"model": "embed-01", "input": texts[i : i + per_request]}
            for i in range(0, len(texts), per_request)
        ]

    bodies = requests(texts)
    headers = {"Cache-Control": "no-cache"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:

        async def worker(queue: list[dict[str, object]]) -> None:
            while queue:
                async with session.post(url, json=queue.pop(), headers=headers) as response:
                    assert response.status == 200, await response.text()
                    await response.read()

        # A quarter as many requests again, of the same shape: the first passes of each
        # thread and batch shape are slower, and would be measured otherwise.
        warm_texts = texts[: max(clients, len(bodies) // 4) * per_request]
        warm = requests([f"warm {text}" for text in warm_texts])
        await asyncio.gather(*(worker(warm) for _ in range(clients)))
        started = time.perf_counter()
        await asyncio.gather(*(worker(bodies) for _ in range(clients)))
        return len(texts) / (time.perf_counter() - started)


def in_private_network(module: str = "evals.bench_embeddings") -> None:
    """Re-run `module` in a network namespace with only loopback (root and unshare)."""
    if os.environ.get(NAMESPACE_FLAG) or not shutil.which("unshare") or os.geteuid() != 0:
        return
    command = " ".join(
        [
            "ip link set lo up && exec",
            sys.executable,
            "-m",
            module,
            *map(_quote, sys.argv[1:]),
        ]
    )
    env = {**os.environ, NAMESPACE_FLAG: "1"}
    sys.exit(subprocess.call(["unshare", "--net", "--", "sh", "-c", command], env=env, cwd=ROOT))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def main() -> None:
    """Parse options and run every part."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--litellm", default=str(ROOT / "var/litellm/bin/litellm"))
    parser.add_argument("--texts", type=int, default=2048, help="texts for the local-model part")
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    in_private_network()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        results = gateway_rows(args, work)
        print_ratios(results)
        if not args.skip_local:
            local_model_row(args, work)


if __name__ == "__main__":
    main()
