"""`POST /threads/{id}/runs/wait` under wrk: the load generator of the runs benchmark.

wrk is a C client: at concurrency 16 it costs the shared 2 cores a few percent, where an
httpx client in Python cost about half a core and capped the server under test. Each
request takes the next of a list of threads created beforehand (one run per thread, as a
new conversation would), so only the run is timed; every wrk thread starts at its own
offset, so no two connections ever run on one thread at a time.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from evals.bench_embeddings import _ms

SCRIPT = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local body = '%(body)s'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("offset", (threads - 1) * math.floor(#ids / %(threads)d))
end
function init(args)
  counter = 0
end
function request()
  counter = counter + 1
  local id = ids[((offset + counter - 1) %% #ids) + 1]
  return wrk.format("POST", "/threads/" .. id .. "/runs/wait",
    {["Content-Type"] = "application/json"}, body)
end
"""


def wrk_waits(
    base: str, thread_ids: list[str], body: dict[str, Any], *, concurrency: int, duration_s: int
) -> tuple[float, float, float, int]:
    """Run wrk against `/runs/wait`; return runs/s, p50 ms, p99 ms and non-2xx answers."""
    threads = min(2, concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        ids, script = Path(tmp) / "threads.txt", Path(tmp) / "wait.lua"
        ids.write_text("\n".join(thread_ids) + "\n")
        script.write_text(SCRIPT % {"ids": ids, "body": json.dumps(body), "threads": threads})
        # wrk's default 2 s timeout would drop a slow server's slowest runs from the figures.
        command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration_s}s", "--latency"]
        command += ["--timeout", "60s"]
        output = subprocess.run(
            [*command, "-s", str(script), base], capture_output=True, text=True, check=True
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    failed = int(errors.group(1)) if errors else 0
    if sockets := re.search(r"Socket errors: (.*)", output):  # connect, read, write, timeout
        failed += sum(int(n) for n in re.findall(r"\d+", sockets.group(1)))
    return rps, p50, p99, failed


WAIT_ROUTE = "/threads/{thread_id}/runs/wait"


def server_sums(base: str) -> dict[str, float] | None:
    """Read Orca's own timings from `/metrics`: the `/runs/wait` requests and the runs.

    Returns sums and counts of `orca_http_request_duration_seconds` for the route and of
    `orca_workflow_run_duration_seconds` for the runs surface (the graph, checkpoints
    included); None from a server without them (`langgraph dev`).
    """
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    # Generous: the server may still be finishing the runs a wrk run left in flight.
    response = httpx.get(f"{base}/metrics", timeout=60)
    if response.status_code != 200:
        return None
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = sample.labels
            if family.name == "orca_http_request_duration_seconds" and (
                labels.get("route") == WAIT_ROUTE and labels.get("method") == "POST"
            ):
                key = "request"
            elif family.name == "orca_workflow_run_duration_seconds" and (
                labels.get("surface") == "runs"
            ):
                key = "graph"
            else:
                continue
            if sample.name.endswith("_sum"):
                sums[f"{key}_s"] = sums.get(f"{key}_s", 0.0) + sample.value
            elif sample.name.endswith("_count"):
                sums[f"{key}_n"] = sums.get(f"{key}_n", 0.0) + sample.value
    return sums or None


def where_the_time_goes(
    before: dict[str, float], after: dict[str, float], client_mean_ms: float
) -> str:
    """Split the mean run between the graph, Orca's bookkeeping and the HTTP round trip."""
    runs = after.get("graph_n", 0) - before.get("graph_n", 0)
    requests = after.get("request_n", 0) - before.get("request_n", 0)
    if not runs or not requests:
        return "no timings"
    graph = (after["graph_s"] - before["graph_s"]) / runs * 1000
    request = (after["request_s"] - before["request_s"]) / requests * 1000
    return (
        f"graph with checkpoints {graph:.2f} ms, run rows and events {request - graph:.2f} ms "
        f"(server-side request {request:.2f} ms), HTTP and client {client_mean_ms - request:.2f}"
        " ms"
    )
