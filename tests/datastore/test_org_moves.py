"""Moving an organization: export -> import -> export across both backends, resumed
imports, refusals that change nothing, and deletions that finish on a second run."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from datastore import demo, invitations, keys, leases, members, org_moves, organizations
from datastore.actors import acting
from datastore.dynamodb import DynamoStore
from datastore.embedded import EmbeddedStore
from datastore.errors import StoreUnavailable
from datastore.org_moves import ImportRefused
from datastore.records import Role
from datastore.store import Item, Query, Store
from tests.conftest import FAST_RETRY, Clock

ORG = demo.DEMO_ORG


@pytest.fixture
async def other(request: pytest.FixtureRequest, store: Store, tmp_path: Path, clock: Clock
                ) -> AsyncIterator[Store]:
    """The other backend than ``store``: what an import moves the organization into."""
    target: Store
    if isinstance(store, EmbeddedStore):
        target = DynamoStore(request.getfixturevalue("dynamo_settings"), clock=clock,
                             retry=FAST_RETRY)
    else:
        target = EmbeddedStore(tmp_path / "other.sqlite3", clock=clock, retry=FAST_RETRY)
    yield target
    await target.close()


async def rich_org(store: Store) -> None:
    """The demo (people, analytics, a report, activity) with a pending invitation and a
    second organization beside it that nothing here may touch."""
    await demo.load_demo(store)
    admin = await members.get(store, ORG, demo.DEMO_ADMIN, consistent=True)
    assert admin is not None
    await invitations.create(store, acting(admin), "erin@startup.com", Role.VIEWER,
                             ttl_seconds=7 * 86400)
    await demo.load_team(store, "org-beside", 3)
    await leases.acquire(store, "analytics-scheduler", "someone", 60)


async def exported(store: Store, org_id: str = ORG) -> list[bytes]:
    out = io.BytesIO()
    await org_moves.export(store, org_id, out.write, source=store.name)
    return out.getvalue().splitlines(keepends=True)


def items_of(lines: list[bytes]) -> list[bytes]:
    """The item lines: what must be equal after a round trip (the header has a time)."""
    return lines[1:]


async def partition(store: Store, org_id: str = ORG) -> list[Item]:
    return (await store.query(Query(keys.org_pk(org_id), consistent=True))).items


class FailAfter:
    """A fault: the ``op`` calls after the first ``allowed`` fail as a lost connection."""

    def __init__(self, op: str, allowed: int) -> None:
        self.op, self.left = op, allowed

    async def __call__(self, op: str, request: Any) -> Any:
        if op == self.op:
            if self.left == 0:
                raise StoreUnavailable("injected: the connection dropped", transient=False)
            self.left -= 1
        return None


async def test_export_import_export_is_the_same_items_on_the_other_backend(
        store: Store, other: Store) -> None:
    await rich_org(store)
    first = await exported(store)

    result = await org_moves.import_file(other, org_moves.parse(first))
    again = await exported(other)

    kinds = {i["entityType"] for i in await partition(other)}
    assert {"ORGANIZATION", "MEMBER", "EMAIL_CLAIM", "INVITATION", "INVITATION_CLAIM",
            "GITHUB_DATA", "TEAM_REPORT", "ACTIVITY"} <= kinds
    assert items_of(again) == items_of(first)
    assert result.written == len(first) - 2
    assert result.present == 0
    # One transaction per group: each member with its email claim, the invitation with its.
    people = sum(1 for i in await partition(other) if i["entityType"] == "MEMBER")
    assert result.groups == result.written - people - 1
    assert await partition(other, "org-beside") == []
    assert (await organizations.get(other, ORG)) == (await organizations.get(store, ORG))


async def test_back_into_the_first_store_after_deleting_it_there(store: Store) -> None:
    await rich_org(store)
    first = await exported(store)
    beside = await partition(store, "org-beside")

    deleted = await org_moves.delete(store, ORG)
    assert deleted.deleted == len(first) - 2
    assert await partition(store) == []
    await org_moves.import_file(store, org_moves.parse(first))

    assert items_of(await exported(store)) == items_of(first)
    assert await partition(store, "org-beside") == beside
    lease = await store.get(keys.Key("LEASE#analytics-scheduler", "LEASE#analytics-scheduler"))
    assert lease is not None
    assert lease["holder"] == "someone"


async def test_an_interrupted_import_finishes_when_run_again(store: Store, other: Store
                                                             ) -> None:
    await rich_org(store)
    first = await exported(store)
    parsed = org_moves.parse(first)
    other.fault_hook = FailAfter("transact", 5)

    with pytest.raises(StoreUnavailable):
        await org_moves.import_file(other, parsed)
    other.fault_hook = None
    halfway = await partition(other)
    assert halfway
    assert len(halfway) < len(first) - 2
    # The organization item is written last: until the import ends the API sees no org.
    assert await organizations.get(other, ORG, consistent=True) is None

    result = await org_moves.import_file(other, parsed)

    assert result.present == len(halfway)
    assert result.written == len(first) - 2 - len(halfway)
    assert items_of(await exported(other)) == items_of(first)
    done = await org_moves.import_file(other, parsed)
    assert done.already_imported
    assert done.written == 0


async def test_an_import_over_other_data_is_refused_and_writes_nothing(store: Store) -> None:
    await rich_org(store)
    lines = await exported(store)
    before = await partition(store)
    # The same organization, changed since the export: the file would overwrite it.
    admin = await members.get(store, ORG, demo.DEMO_ADMIN, consistent=True)
    assert admin is not None
    await members.update_profile(store, acting(admin), demo.DEMO_ADMIN, name="Alice Renamed")
    changed = await partition(store)

    with pytest.raises(ImportRefused, match="already exists in this store with other data"):
        await org_moves.import_file(store, org_moves.parse(lines))

    assert await partition(store) == changed
    assert len(changed) == len(before) + 1  # the rename's activity event


async def test_an_item_someone_writes_during_the_import_stops_it_and_is_kept(
        store: Store, other: Store) -> None:
    await rich_org(store)
    parsed = org_moves.parse(await exported(store))
    target = next(i for i in parsed.items if i["entityType"] == "TEAM_REPORT")
    theirs = {**target, "summary": "written by someone else"}

    async def write_first(op: str, request: Any) -> Any:
        if op == "transact":
            other.fault_hook = None
            await other.put(theirs)
        return None

    line = parsed.lines[keys.Key(target["PK"], target["SK"])]
    other.fault_hook = write_first  # they write it as the import's first group goes in

    with pytest.raises(ImportRefused, match=f"line {line}: written by someone else"):
        await org_moves.import_file(other, parsed)

    assert await other.get(keys.Key(target["PK"], target["SK"]), consistent=True) == theirs
    assert await organizations.get(other, ORG, consistent=True) is None


async def test_an_interrupted_delete_finishes_on_a_second_run(store: Store) -> None:
    await rich_org(store)
    total = len(await partition(store))
    store.fault_hook = FailAfter("delete", 10)

    with pytest.raises(StoreUnavailable):
        await org_moves.delete(store, ORG)
    store.fault_hook = None
    left = await partition(store)
    assert 0 < len(left) < total
    assert await organizations.get(store, ORG, consistent=True) is not None  # last to go

    second = await org_moves.delete(store, ORG)

    assert second.deleted == len(left)
    assert await partition(store) == []
    assert len(await partition(store, "org-beside")) > 0
    assert (await org_moves.delete(store, ORG)).deleted == 0


async def test_expired_items_are_neither_exported_nor_imported(store: Store, other: Store,
                                                              clock: Clock) -> None:
    await rich_org(store)
    lines = await exported(store)
    parsed = org_moves.parse(lines)
    expiring = [i for i in parsed.items if isinstance(i.get("expiresAt"), int)]
    soonest = min(i["expiresAt"] for i in expiring)
    clock.now = soonest + 1  # the first of them has expired since the export

    result = await org_moves.import_file(other, parsed)

    gone = sum(1 for i in expiring if i["expiresAt"] <= clock.now)
    assert gone >= 1
    assert result.expired == gone
    assert len(await partition(other)) == len(parsed.items) - gone
    assert len(items_of(await exported(other))) == len(items_of(lines)) - gone


async def test_an_export_that_is_not_one_moment_is_refused(store: Store) -> None:
    await rich_org(store)
    # What a paged read taken while someone joined could see: a member without its claim.
    await store.delete(keys.member_email(ORG, "bob@startup.com"))
    out = io.BytesIO()

    with pytest.raises(org_moves.ExportInconsistent, match="changed while it was exported"):
        await org_moves.export(store, ORG, out.write, source=store.name)

    # No end line: an import refuses what was written.
    assert not out.getvalue().splitlines()[-1].startswith(b'{"end"')


async def test_a_file_whose_item_points_into_another_organization_is_refused(
        store: Store) -> None:
    await rich_org(store)
    lines = await exported(store)
    activity_line = next(i for i, raw in enumerate(lines) if b'"ACTIVITY"' in raw)
    member_line = next(i for i, raw in enumerate(lines) if b'"MEMBER"' in raw)
    into_victim = list(lines)
    into_victim[activity_line] = lines[activity_line].replace(
        f"ORG_ACTIVITY#{ORG}".encode(), b"ORG_ACTIVITY#victim")
    renamed = list(lines)
    renamed[member_line] = lines[member_line].replace(
        f'"organizationId":"{ORG}"'.encode(), b'"organizationId":"victim"')

    with pytest.raises(ImportRefused, match=f"line {activity_line + 1}: index keys"):
        org_moves.parse(into_victim)
    with pytest.raises(ImportRefused, match=f"line {member_line + 1}: organizationId"):
        org_moves.parse(renamed)


async def test_a_file_with_half_a_pair_is_refused(store: Store) -> None:
    await rich_org(store)
    lines = await exported(store)
    claim = next(i for i, raw in enumerate(lines) if b'"EMAIL_CLAIM"' in raw)
    cut = [raw for i, raw in enumerate(lines) if i != claim]
    cut[-1] = org_moves.line({"end": {"items": len(cut) - 2}})

    with pytest.raises(ImportRefused, match="without the claim written with it"):
        org_moves.parse(cut)


async def test_a_delete_removes_expired_items_too(store: Store, clock: Clock) -> None:
    await rich_org(store)
    await store.put({"PK": keys.org_pk(ORG), "SK": "INVITE#old", "entityType": "INVITATION",
                     "email": "gone@x.io", "expiresAt": int(clock.now) - 10})
    raw = Query(keys.org_pk(ORG), consistent=True, include_expired=True)

    await org_moves.delete(store, ORG)

    assert (await store.query(raw)).items == []


def good_file() -> list[bytes]:
    org = {"PK": "ORG#acme", "SK": "ORG#acme", "entityType": "ORGANIZATION", "name": "Acme"}
    return [org_moves.line(org_moves.header("acme", "embedded", 0)),
            org_moves.line({"item": org}), org_moves.line({"end": {"items": 1}})]


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: [b"not json\n", *f[1:]], "line 1: not JSON"),
    (lambda f: [b'{"format": "other"}\n', *f[1:]], "line 1: not an organization export"),
    (lambda f: [f[0].replace(b'"version":1', b'"version":2'), *f[1:]], "version 2"),
    (lambda f: [f[0].replace(b'"acme"', b'"a#b"'), *f[1:]], "line 1: organizationId"),
    (lambda f: f[:2], "without its end line"),
    (lambda f: [f[0], f[1], f[1], f[2]], "line 3: the same item as line 2"),
    (lambda f: [*f, f[1]], "line 4: nothing may follow the end line"),
    (lambda f: [f[0], f[1], b'{"end": {"items": 7}}\n'], "counts 7 items but the file holds 1"),
    (lambda f: [f[0], f[1].replace(b"ORG#acme\",\"SK", b"ORG#else\",\"SK"), f[2]],
     "line 2: an item of another partition"),
    (lambda f: [f[0], b'{"item": {"PK": "ORG#acme"}}\n', f[2]], "line 2: item needs"),
    (lambda f: [f[0], b'{"item": 3}\n', f[2]], "line 2: expected"),
    (lambda f: [f[0], b"[1]\n", f[2]], "line 2: each line must be a JSON object"),
    (lambda f: [f[0], org_moves.line({"item": {"PK": "ORG#acme", "SK": "MEMBER#x"}}),
                f[2].replace(b"1", b"1")], "no organization item"),
    (lambda f: [], "the file is empty"),
])
def test_a_bad_file_is_refused_naming_its_line(change: Any, message: str) -> None:
    assert org_moves.parse(good_file())  # the unchanged file is good

    with pytest.raises(ImportRefused, match=message):
        org_moves.parse(change(good_file()))
