"""A short soak in CI: two client processes against two server processes sharing one SQLite
file, then every write checked in the store. The full run is `python -m bench.soak`."""

from __future__ import annotations

from pathlib import Path

from bench import soak
from tests.hardening import tally

SECONDS = 12.0


def test_two_processes_lose_no_write_and_answer_no_server_error(tmp_path: Path) -> None:
    report = soak.run(SECONDS, servers=2, clients=2, concurrency=3, workdir=tmp_path)

    tally.add("soak requests", report.requests)
    tally.add("soak writes acknowledged", sum(
        count for name, count in report.writes.items() if name.endswith("acknowledged")))
    tally.add(tally.LOST, report.lost)
    print(soak.render(report))
    assert report.requests > 0
    assert report.writes["invitations acknowledged"] > 0
    assert report.writes["preference updates acknowledged"] > 0
    assert (report.server_errors, report.transport_errors, report.internal_errors) == (0, 0, 0)
    assert (report.lost, report.duplicated, report.phantom) == (0, 0, 0)
    assert report.ok, soak.render(report)
