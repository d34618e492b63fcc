"""The processes the bench starts, and what /proc says about them.

Only processes started here are ever stopped, by their own PID; every wait has a deadline.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The bench cannot go on; the message says what to fix."""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    log_file: IO[bytes]
    port: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.log_file.close()

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def start(name: str, argv: Sequence[str], workdir: Path, env: Mapping[str, str],
          timeout: float = 60.0) -> Process:
    """Start a server that writes its port to ``--port-file``; wait until it has."""
    port_file = workdir / f"{name}.port"
    port_file.unlink(missing_ok=True)
    log = workdir / f"{name}.log"
    log_file = log.open("wb")
    popen = subprocess.Popen([*argv, "--port-file", str(port_file)], cwd=ROOT,
                             env=dict(env), stdin=subprocess.DEVNULL, stdout=log_file,
                             stderr=subprocess.STDOUT)
    proc = Process(name, popen, log, log_file)
    deadline = time.monotonic() + timeout
    while not port_file.exists():
        if not proc.alive():
            proc.stop()
            raise BenchError(f"{name} exited with {popen.returncode}; its log ({log}) ends:\n"
                             f"{proc.log_tail()}")
        if time.monotonic() > deadline:
            proc.stop()
            raise BenchError(f"{name} did not start listening within {timeout:.0f} s; see {log}")
        time.sleep(0.05)
    proc.port = int(port_file.read_text(encoding="utf-8"))
    return proc


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: Mapping[str, str] | None = None,
            timeout: float = 30.0) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in
                                                   response.getheaders()}
    finally:
        conn.close()


def wait_until_ready(proc: Process, method: str, path: str, body: bytes | None = None,
                     headers: Mapping[str, str] | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited; its log ({proc.log}) ends:\n"
                             f"{proc.log_tail()}")
        try:
            status, _, _ = request(proc.port, method, path, body, headers, timeout=5)
        except OSError as exc:
            last = str(exc)
        else:
            if status == 200:
                return
            last = f"HTTP {status}"
        time.sleep(0.1)
    raise BenchError(f"{proc.name} was not ready within {timeout:.0f} s ({last}); "
                     f"see {proc.log}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process, all its threads included."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rpartition(")")[2].split()
    # After the command name: state is field 3 of proc(5), so utime (14) is index 11.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"/proc/{pid}/status has no VmRSS")


def load_average() -> float:
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


def wait_idle(pids: Sequence[int], quiet: float = 0.3, timeout: float = 60.0) -> float:
    """Wait until none of ``pids`` uses CPU for ``quiet`` seconds; returns the seconds waited.

    wrk stops with a request in flight on every connection; the servers still finish those,
    and their CPU belongs to the run that sent them.
    """
    started = time.monotonic()
    deadline = started + timeout
    last = [cpu_seconds(p) for p in pids]
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = [cpu_seconds(p) for p in pids]
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            break
    return time.monotonic() - started
