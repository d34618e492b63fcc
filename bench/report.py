"""The table, the targets of issue 5 with their measured figures, and bench/RESULTS.md."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.operations import ORG_SIZES
from bench.processes import load_average

PEER = "peer"


@dataclass(frozen=True)
class Measurement:
    target: str
    op: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # server CPU per request
    store_calls: float | None  # mean per request, from the server's request log
    store_calls_by_op: dict[str, float]
    response_bytes: int
    errors: int
    requests: int  # completed by wrk
    served: int  # finished by the server, the in-flight ones at the end included
    load1: float
    backend_cpu_ms: float | None = None  # moto's CPU per request, DynamoDB runs only


@dataclass(frozen=True)
class Soak:
    target: str
    op: str
    seconds: float
    rps: float
    samples: list[tuple[float, int]]  # (seconds into the run, RSS bytes)

    @property
    def first(self) -> int:
        return self.samples[0][1]

    @property
    def last(self) -> int:
        return self.samples[-1][1]

    @property
    def drift(self) -> float:
        return 100 * (self.last - self.first) / self.first

    @property
    def peak_drift(self) -> float:
        return 100 * (max(r for _, r in self.samples) - self.first) / self.first


@dataclass
class Results:
    measurements: dict[tuple[str, str], Measurement] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    soak: Soak | None = None
    profiles: dict[str, list[str]] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)

    def get(self, target: str, op: str) -> Measurement | None:
        return self.measurements.get((target, op))

    def ratio(self, m: Measurement) -> float | None:
        peer = self.get(PEER, m.op)
        if m.target == PEER or peer is None or not peer.rps:
            return None
        return m.rps / peer.rps

    def cpu_ratio(self, m: Measurement) -> float | None:
        """Peer CPU per request over ours: the req/s ratio two idle cores would show."""
        peer = self.get(PEER, m.op)
        if m.target == PEER or peer is None or not m.cpu_ms:
            return None
        return peer.cpu_ms / m.cpu_ms


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _calls(m: Measurement) -> str:
    if m.store_calls is None:
        return "—"
    by = ", ".join(f"{k} {v:g}" for k, v in sorted(m.store_calls_by_op.items()))
    return f"{m.store_calls:g} ({by})" if by else f"{m.store_calls:g}"


HEADER = ("operation", "server", "req/s", "ours/peer req/s", "peer/ours CPU", "p50 ms",
          "p99 ms", "p99/p50", "CPU ms/req", "store calls/req", "bytes", "errors", "load1")


def rows(results: Results, ops: Sequence[str], targets: Sequence[str]) -> list[list[str]]:
    out = []
    for op in ops:
        for target in targets:
            m = results.get(target, op)
            if m is None:
                continue
            ratio = results.ratio(m)
            cpu_ratio = results.cpu_ratio(m)
            cpu = _num(m.cpu_ms, 2)
            if m.backend_cpu_ms is not None:
                cpu += f" (+moto {m.backend_cpu_ms:.2f})"
            out.append([op, target, _num(m.rps, 0), "—" if ratio is None else f"{ratio:.2f}x",
                        "—" if cpu_ratio is None else f"{cpu_ratio:.2f}x",
                        _num(m.p50_ms, 2), _num(m.p99_ms, 2),
                        _num(m.p99_ms / m.p50_ms if m.p50_ms else None, 2), cpu, _calls(m),
                        f"{m.response_bytes:,}", str(m.errors), f"{m.load1:.2f}"])
    return out


def text_table(table: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [list(HEADER), *table]) for i in range(len(HEADER))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    return "\n".join(lines)


def markdown_table(header: Sequence[str], table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in table]
    return "\n".join(lines)


# Targets


def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else "met" if ok else "NOT met"


def targets(results: Results, stores: Sequence[str]) -> list[list[str]]:
    out: list[list[str]] = []
    for store in stores:
        target = f"ours/{store}"
        calls = {size: results.get(target, f"dashboard-{size}") for size in ORG_SIZES}
        figures = {s: m.store_calls for s, m in calls.items() if m is not None}
        ok: bool | None = None
        if len(figures) == len(ORG_SIZES) and None not in figures.values():
            values = list(figures.values())
            ok = len(set(values)) == 1
            if store == "embedded":
                ok = ok and max(v for v in values if v is not None) <= 4
        measured = ", ".join(f"{s}: {_num(v, 2)}" for s, v in figures.items()) or "—"
        goal = ("same at 10/100/1,000, at most 4" if store == "embedded"
                else "same at 10/100/1,000 (only BatchGetItem chunks of 100 may grow)")
        out.append([f"store calls per dashboard ({store})", goal, measured, _met(ok)])
    checks = [("dashboard-100", "embedded", 1.0)]
    checks += [(op, store, 4.0) for op in ("typename", "member") for store in stores]
    for op, store, floor in checks:
        m = results.get(f"ours/{store}", op)
        ratio = results.ratio(m) if m else None
        cpu_ratio = results.cpu_ratio(m) if m else None
        measured = "—" if ratio is None else f"{ratio:.2f}x"
        if cpu_ratio is not None:
            measured += f" (CPU per request: peer/ours {cpu_ratio:.2f}x)"
        out.append([f"`{op}` ({store}): req/s vs the peer", f">= {floor:g}x", measured,
                    _met(None if ratio is None else ratio >= floor)])
    for store in stores:
        ours = [m for (t, _), m in results.measurements.items() if t == f"ours/{store}"]
        if ours:
            worst = max(ours, key=lambda m: m.p99_ms / m.p50_ms if m.p50_ms else 0)
            spread = worst.p99_ms / worst.p50_ms if worst.p50_ms else float("inf")
            bad = [m.op for m in ours if m.p50_ms and m.p99_ms > 3 * m.p50_ms]
            out.append([f"p99 <= 3x p50, every operation ({store})", "<= 3.0",
                        f"worst {spread:.2f} ({worst.op})"
                        + (f"; over: {', '.join(bad)}" if bad else ""), _met(not bad)])
    soak = results.soak
    if soak is None:
        out.append(["server memory over a 5-minute dashboard run", "within 10%",
                    "not run (add --soak 300)", _met(None)])
    else:
        out.append([f"server memory over {soak.seconds:.0f} s of {soak.op} ({soak.target})",
                    "within 10%", f"{soak.drift:+.1f}% end vs start "
                    f"(peak {soak.peak_drift:+.1f}%)",
                    _met(abs(soak.drift) <= 10 and abs(soak.peak_drift) <= 10)])
    return out


# The machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(nproc: int) -> list[str]:
    return [f"- CPUs: {nproc} x {cpu_model()}",
            f"- Python {sys.version.split()[0]} ({platform.python_implementation()}), "
            f"{platform.platform()}"]


def soak_lines(soak: Soak) -> list[str]:
    first = soak.first
    out = [f"{soak.op} on {soak.target} for {soak.seconds:.0f} s at {soak.rps:,.0f} req/s; "
           "RSS every sample (MiB, change from the first):", ""]
    out += [f"- {t:5.0f} s: {r / 2**20:7.1f} MiB ({100 * (r - first) / first:+.1f}%)"
            for t, r in soak.samples]
    return out


def markdown(results: Results, table: list[list[str]], stores: Sequence[str], command: str,
             nproc: int, notes: Sequence[str]) -> str:
    loads = results.loads or [load_average()]
    out = ["# Benchmark results", "",
           "Written by `bench/run.py`; figures, never pass/fail. Reproduce with:", "",
           "```", command, "```", "",
           "## Machine", "", *machine(nproc),
           f"- Load average (1 min) during the runs: {min(loads):.2f} to {max(loads):.2f}; "
           "other test suites may share the machine, so treat small differences as noise.",
           "", "## Targets (issue 5)", "",
           markdown_table(("target", "goal", "measured", "status"), targets(results, stores)),
           "", "## Every run", "", markdown_table(HEADER, table), "",
           "## How to read it", "", *notes]
    if results.skipped:
        out += ["", "## Not measured", "", *(f"- {s}" for s in results.skipped)]
    if results.soak is not None:
        out += ["", "## Memory", "", *soak_lines(results.soak)]
    for op, lines in results.profiles.items():
        out += ["", f"## Profile: {op}", "", lines[0], "", "```", *lines[1:], "```"]
    return "\n".join(out) + "\n"


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
