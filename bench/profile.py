"""py-spy on the running server, summarised as the functions that hold the most samples."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.processes import ROOT, BenchError


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise BenchError("py-spy is not installed; install it with "
                         "`.venv/bin/pip install py-spy`")
    return found


RATE = 200  # samples per second
# Frames every sample passes through on the way to the event loop: not worth a line.
# A pool thread blocked on its queue: py-spy does not see that wait as idle.
IDLE = ("_worker (concurrent/futures/thread.py)",)
LAUNCHER = ("<frozen runpy>", "bench/serve.py", "asyncio/runners.py", "uvicorn/server.py",
            "uvicorn/_compat.py", "asyncio/base_events.py", "asyncio/events.py")


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Collapsed stacks ("raw"), which speedscope.app also opens. Threads that wait (the
    event loop in epoll, idle pool workers) are left out, as py-spy does by default."""
    return subprocess.Popen([py_spy(), "record", "--pid", str(pid), "--duration",
                             str(max(1, round(seconds))), "--rate", str(RATE), "--format",
                             "raw", "--nolineno", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for prefix in ("site-packages/", str(ROOT) + "/"):
        if prefix in where:
            where = where.split(prefix, 1)[1]
    if "/lib/python3." in where:  # the standard library: keep the module's path only
        where = "stdlib/" + where.split("/lib/python3.", 1)[1].split("/", 1)[-1]
    return f"{name} ({where})"


def _package(frame: str) -> str:
    where = frame.partition(" (")[2].rstrip(")")
    parts = where.split("/")
    if parts[0] == "stdlib" and len(parts) > 2:
        return "stdlib/" + parts[1]
    return parts[0] if len(parts) > 1 else where


@dataclass(frozen=True)
class Summary:
    samples: int
    idle: int  # left out of every share
    own: list[tuple[str, int]]  # where the CPU was when sampled
    total: list[tuple[str, int]]  # what was on the stack
    packages: list[tuple[str, int]]  # own time by top-level package

    def lines(self, top: int = 15) -> list[str]:
        def pct(n: int) -> str:
            return f"{100 * n / self.samples:5.1f}%"
        out = [f"{self.samples} samples ({self.idle} more of idle pool threads left out); "
               "Runner.run as the running function means uvloop's C code (socket I/O, or "
               "waiting). Own time by package:"]
        out += [f"  {pct(n)}  {p}" for p, n in self.packages[:top]]
        out.append("Own time (the function running when sampled):")
        out += [f"  {pct(n)}  {f}" for f, n in self.own[:top]]
        out.append("Total time (the function anywhere on the stack; launcher frames left out):")
        out += [f"  {pct(n)}  {f}" for f, n in self.total if not any(
            x in f for x in LAUNCHER)][:top]
        return out


def summarise(raw: Path) -> Summary:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = idle = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")
                  if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[-1] in IDLE:
            idle += n
            continue
        samples += n
        own[frames[-1]] += n
        packages[_package(frames[-1])] += n
        for f in set(frames):
            total[f] += n
    if not samples:
        raise BenchError(f"py-spy recorded no samples in {raw}")
    return Summary(samples, idle, own.most_common(), total.most_common(), packages.most_common())
