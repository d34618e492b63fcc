"""`devinsights backup`: copies taken while a real server writes are consistent snapshots
(every transaction wholly in or wholly out), and the command refuses what it cannot do."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from collections import Counter
from pathlib import Path

import httpx

from datastore import demo, keys
from datastore.embedded import EmbeddedStore
from datastore.store import Query
from tests.test_cli import failure
from tests.web.servers import cli_env, devinsights, run_cli, serve_process, wait_until_ready

SECRET = "backup-tests-hs256-secret-0123456789abcdef"
INVITE = """mutation($email: String!) { inviteMember(input: {email: $email, role: VIEWER}) {
  __typename } }"""


async def invariants(path: Path) -> int:
    """Check what every committed state of the demo under invitations holds; return how
    many invitations the copy has."""
    store = EmbeddedStore(path)
    try:
        items = (await store.query(Query(keys.org_pk(demo.DEMO_ORG), consistent=True))).items
    finally:
        await store.close()
    kinds = Counter(i["entityType"] for i in items)
    load = [i for i in items if str(i.get("email", "")).endswith("@load.example")]
    invites = {i["inviteId"]: i for i in load if i["entityType"] == "INVITATION"}
    claims = [i for i in items if i["entityType"] == "INVITATION_CLAIM"
              and i["SK"].endswith("@load.example")]
    created = [i["target"] for i in items if i["entityType"] == "ACTIVITY"
               and i["action"] == "invitation.created" and i["target"] != "invite-abc-123"]
    assert kinds["ORGANIZATION"] == 1
    # Each inviteMember wrote the invitation, its claim and its event in one transaction.
    assert sorted(c["inviteId"] for c in claims) == sorted(invites)
    assert sorted(created) == sorted(invites)
    assert all(invites[c["inviteId"]]["email"] == c["SK"].removeprefix(keys.INVITE_EMAIL)
               for c in claims)
    return len(invites)


def test_backups_during_a_write_load_are_consistent_snapshots(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    env = cli_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(db), DEVINSIGHTS_JWT_SECRET=SECRET)
    assert run_cli("demo-data", env=env).returncode == 0
    assert run_cli("set-plan", "org-xyz-789", "enterprise", env=env).returncode == 0
    stop = threading.Event()
    answers: Counter[str] = Counter()

    with serve_process([*devinsights(), "serve", "--demo", "--port", "0"], env,
                       until="GraphiQL with the token") as served:
        wait_until_ready(served.url)

        def write_load() -> None:
            with httpx.Client(base_url=served.url, timeout=30,
                              headers={"Authorization": f"Bearer {served.token}"}) as client:
                n = 0
                while not stop.is_set():
                    n += 1
                    reply = client.post("/graphql", json={
                        "query": INVITE, "variables": {"email": f"p{n}@load.example"}})
                    answers[reply.json()["data"]["inviteMember"]["__typename"]] += 1

        writer = threading.Thread(target=write_load)
        writer.start()
        copies = []
        try:
            for i in range(4):
                copy = tmp_path / f"copy-{i}.sqlite3"
                result = run_cli("backup", str(copy), env=env)
                assert result.returncode == 0, result.stderr
                assert result.stdout.startswith(f"backed up the embedded store {db} to {copy}")
                copies.append(copy)
        finally:
            stop.set()
            writer.join(timeout=60)

    counts = [asyncio.run(invariants(copy)) for copy in copies]
    assert answers["InviteMemberSuccess"] == sum(answers.values()) > 0
    assert counts[-1] > 0, "the load wrote nothing before the last copy"
    assert counts == sorted(counts)  # later copies, later states
    for copy in copies:
        assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600
        assert not Path(f"{copy}-wal").exists()  # one self-contained file
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert asyncio.run(invariants(db)) == answers["InviteMemberSuccess"]


def test_backup_refuses_what_it_cannot_do_and_leaves_the_target(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    env = cli_env(tmp_path, DEVINSIGHTS_SQLITE_PATH=str(db))
    assert run_cli("demo-data", env=env).returncode == 0
    target = tmp_path / "b.sqlite3"
    target.write_text("an older backup")
    text = tmp_path / "notes.txt"
    text.write_text("not a database")

    exists = run_cli("backup", str(target), env=env)
    itself = run_cli("backup", str(db), env=env)
    folder = run_cli("backup", str(tmp_path), env=env)
    no_dir = run_cli("backup", str(tmp_path / "no" / "b.sqlite3"), env=env)
    missing = run_cli("backup", str(tmp_path / "x.sqlite3"),
                      env={**env, "DEVINSIGHTS_SQLITE_PATH": str(tmp_path / "none.sqlite3")})
    not_store = run_cli("backup", str(tmp_path / "y.sqlite3"),
                        env={**env, "DEVINSIGHTS_SQLITE_PATH": str(text)})
    dynamodb = run_cli("backup", str(tmp_path / "z.sqlite3"),
                       env={**env, "DEVINSIGHTS_STORE": "dynamodb"})

    assert "exists; pass --force" in failure(exists, 2)
    assert "is the store itself" in failure(itself, 2)
    assert "is a folder" in failure(folder, 2)
    assert "does not exist" in failure(no_dir, 2)
    assert "none.sqlite3 does not exist" in failure(missing, 1)
    assert not (tmp_path / "none.sqlite3").exists()  # nothing was created in its place
    assert "is not a DevInsights embedded store" in failure(not_store, 1)
    assert "point-in-time recovery" in failure(dynamodb, 1)
    assert target.read_text() == "an older backup"
    assert sorted(p.name for p in tmp_path.glob("*.partial")) == []

    forced = run_cli("backup", str(target), "--force", env=env)

    assert forced.returncode == 0, forced.stderr
    assert asyncio.run(invariants(target)) == 0
