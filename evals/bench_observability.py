"""What instrumentation costs per request: `/v1/embeddings` with metrics on and off.

Two Orca processes in front of the same stub upstream (`evals/stub_embeddings.py`), one
with `ORCA_METRICS_ENABLED=true` (metrics middleware, request log line, run callbacks) and
one with it false, measured by wrk in the same run: cache hits (the path where per-request
overhead shows most) and cache bypassed. Runs in a private network namespace like
`evals/bench_embeddings.py`. Prints figures; asserts nothing.

    .venv/bin/python -m evals.bench_observability [--duration 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from evals.bench_embeddings import (
    Result,
    free_port,
    in_private_network,
    measure,
    process,
    stub_orca_env,
)


def main() -> None:
    """Measure both processes and print the difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    in_private_network("evals.bench_observability")
    results: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory() as work:
        stub_port = free_port()
        stub = f"http://127.0.0.1:{stub_port}"
        uvicorn = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning"]
        with process(
            [*uvicorn, "evals.stub_embeddings:app", "--port", str(stub_port)], f"{stub}/v1/models"
        ):
            for enabled in ("true", "false"):
                port = free_port()
                env = stub_orca_env(
                    Path(work) / enabled,
                    port,
                    stub,
                    ORCA_METRICS_ENABLED=enabled,
                    ORCA_LOG_LEVEL="WARNING",
                )
                orca = f"http://127.0.0.1:{port}"
                print(f"metrics {'on' if enabled == 'true' else 'off'}:", flush=True)
                with process(
                    [str(Path(sys.executable).with_name("orca")), "serve"], f"{orca}/health", env
                ):
                    url = f"{orca}/v1/embeddings"
                    results[enabled] = [
                        *measure(
                            "cache hit",
                            url,
                            "embed-01",
                            args.duration,
                            unique=False,
                            no_cache=False,
                        ),
                        *measure(
                            "cache off", url, "embed-01", args.duration, unique=True, no_cache=True
                        ),
                    ]
    print("\ncost of metrics (on minus off, same run):")
    for on, off in zip(results["true"], results["false"], strict=True):
        print(
            f"  {on.target:<10} c={on.concurrency:<3} p50 {on.p50_ms - off.p50_ms:+.3f} ms,"
            f" throughput {on.rps / off.rps:.3f} of metrics-off"
        )


if __name__ == "__main__":
    main()
