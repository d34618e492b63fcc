"""Load from a separate process: wrk with a Lua script that POSTs one JSON body."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import BenchError

LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%(body)s]==]
%(authorization)s

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"bytes\\": %%d, " ..
    "\\"status_errors\\": %%d, \\"connect_errors\\": %%d, \\"read_errors\\": %%d, " ..
    "\\"write_errors\\": %%d, \\"timeouts\\": %%d, \\"p50_us\\": %%d, \\"p90_us\\": %%d, " ..
    "\\"p99_us\\": %%d, \\"max_us\\": %%d}\\n",
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed; install it with `apt-get install -y wrk` "
                         "(Debian's package)")
    return path


# With several tokens, each request takes the next one: one caller per request in turn.
ROTATE = """\
local tokens = {%s}
local n = 0
request = function()
  n = n %% #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[n]
  return wrk.format()
end
"""


def write_script(path: Path, body: bytes, tokens: list[str]) -> Path:
    text = body.decode()
    if "]==]" in text:
        raise BenchError("the request body contains ]==], which ends the Lua string")
    if len(tokens) > 1:
        authorization = ROTATE % ", ".join(f'"{t}"' for t in tokens)
    elif tokens:
        authorization = f'wrk.headers["Authorization"] = "Bearer {tokens[0]}"'
    else:
        authorization = ""
    path.write_text(LUA % {"authorization": authorization, "body": text}, encoding="utf-8")
    return path


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def command(port: int, script: Path, seconds: float, connections: int,
            threads: int) -> list[str]:
    # wrk takes whole seconds only.
    return [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}/graphql"]


def parse(output: str) -> WrkResult:
    line = next((ln for ln in output.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise BenchError(f"wrk printed no summary:\n{output[-2000:]}")
    raw: dict[str, Any] = json.loads(line[len("BENCH "):])
    errors = sum(raw[k] for k in ("status_errors", "connect_errors", "read_errors",
                                  "write_errors", "timeouts"))
    return WrkResult(requests=raw["requests"], seconds=raw["duration_us"] / 1e6, errors=errors,
                     p50_ms=raw["p50_us"] / 1000, p90_ms=raw["p90_us"] / 1000,
                     p99_ms=raw["p99_us"] / 1000, max_ms=raw["max_us"] / 1000)


def run(port: int, script: Path, seconds: float, connections: int,
        threads: int = 1) -> WrkResult:
    done = subprocess.run(command(port, script, seconds, connections, threads),
                          capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return parse(done.stdout)


def start(port: int, script: Path, seconds: float, connections: int,
          threads: int = 1) -> subprocess.Popen[str]:
    """wrk in the background, for runs that sample the server while it works."""
    return subprocess.Popen(command(port, script, seconds, connections, threads),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
