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
        command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration_s}s", "--latency"]
        output = subprocess.run(
            [*command, "-s", str(script), base], capture_output=True, text=True, check=True
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return rps, p50, p99, int(errors.group(1)) if errors else 0
