"""Moving an organization: export its partition as JSON Lines, import such a file into an
empty partition of this or the other backend, and delete a partition.

The file is one JSON object per line: a header (``format``, ``version``, ``organizationId``,
``source``, ``exportedAt``), then ``{"item": {...}}`` for every live item of
``PK = ORG#{orgId}`` in sort-key order, then ``{"end": {"items": N}}``. A file without its
end line was cut short and is refused.

An import checks the whole file before it writes anything, then writes in *groups*, each
one transaction: a member with the claim that reserves its email, an invitation with the
claim that makes it the email's pending one, every other item on its own. The organization
item goes last, so until an import finishes the organization does not exist for the API.
Run again after an interruption, it skips what is already there exactly as the file says
and writes the rest; anything in the partition that differs from the file (or is not in
it) refuses the import, changing nothing.

A deletion removes every item but the organization item (and the items named to go last),
in pages of DELETE_BATCH, then those in one transaction, then sweeps once more for what a
concurrent writer added. It is idempotent: a second run after an interruption finishes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from datastore import keys
from datastore.errors import StoreError, TransactionCanceled
from datastore.keys import Key
from datastore.store import (
    TTL_ATTRIBUTE,
    Action,
    Delete,
    Item,
    Put,
    Query,
    Store,
    attr_lt,
    check_item,
    item_missing,
)

FORMAT = "devinsights-organization"
VERSION = 1
EXPORT_PAGE = 500
DELETE_BATCH = 25  # DynamoDB's BatchWriteItem size; deletes of one page run together
IMPORT_CONCURRENCY = 8  # group transactions in flight at once

# A progress callback: (items done, items in all or None when not known yet, label).
Progress = Callable[[int, int | None, str], None]


def _quiet(_done: int, _total: int | None, _label: str) -> None:
    return None


class ImportRefused(StoreError):
    """The file or the target partition does not allow the import; nothing was written by
    the check that says so (an import refused part-way has written whole groups only)."""


class ExportInconsistent(StoreError):
    """What was read is not one moment's state of the organization (a member or invitation
    without the claim written with it): it changed while it was read."""


class Pairs:
    """The items written together: each member with the claim that reserves its email, each
    invitation claim with the invitation it names. A partition read across several moments
    (DynamoDB pages) while someone joined or left can hold one half only."""

    def __init__(self, org_id: str) -> None:
        self.org_id = org_id
        self.members: dict[str, tuple[str, Key]] = {}  # userId -> (email, key)
        self.email_claims: dict[str, tuple[str, Key]] = {}  # email -> (userId, key)
        self.invitations: dict[str, tuple[str, Key]] = {}  # inviteId -> (email, key)
        self.invite_claims: dict[str, tuple[str, Key]] = {}  # email -> (inviteId, key)

    def add(self, item: Item) -> None:
        sk, key = str(item["SK"]), Key(item["PK"], item["SK"])
        email, user, invite = item.get("email"), item.get("userId"), item.get("inviteId")
        if sk.startswith(keys.MEMBER) and isinstance(email, str):
            self.members[sk.removeprefix(keys.MEMBER)] = (keys.normalize_email(email), key)
        elif sk.startswith(keys.EMAIL) and isinstance(user, str):
            self.email_claims[sk.removeprefix(keys.EMAIL)] = (user, key)
        elif sk.startswith(keys.INVITE_EMAIL) and isinstance(invite, str):
            self.invite_claims[sk.removeprefix(keys.INVITE_EMAIL)] = (invite, key)
        elif sk.startswith(keys.INVITE) and isinstance(email, str):
            self.invitations[sk.removeprefix(keys.INVITE)] = (keys.normalize_email(email), key)

    def unpaired(self) -> list[Key]:
        """The keys whose partner is missing or names another item."""
        out = [key for user, (email, key) in self.members.items()
               if self.email_claims.get(email, ("", key))[0] != user]
        out += [key for email, (user, key) in self.email_claims.items()
                if self.members.get(user, ("", key))[0] != email]
        out += [key for email, (invite, key) in self.invite_claims.items()
                if self.invitations.get(invite, ("", key))[0] != email]
        return out

    def partners(self) -> dict[Key, Key]:
        """Each half of a pair, to the other half."""
        out: dict[Key, Key] = {}
        for user, (email, key) in self.members.items():
            claim = self.email_claims.get(email)
            if claim is not None and claim[0] == user:
                out[key], out[claim[1]] = claim[1], key
        for email, (invite, key) in self.invite_claims.items():
            invitation = self.invitations.get(invite)
            if invitation is not None and invitation[0] == email:
                out[key], out[invitation[1]] = invitation[1], key
        return out


# Export


async def partition_items(store: Store, org_id: str, *, page: int = EXPORT_PAGE,
                          include_expired: bool = False) -> AsyncIterator[Item]:
    """Every live item of the organization's partition in sort-key order, read strongly
    consistently a page at a time (expired items are skipped unless ``include_expired``)."""
    cursor: str | None = None
    while True:
        result = await store.query(Query(keys.org_pk(org_id), limit=page, cursor=cursor,
                                         consistent=True, include_expired=include_expired))
        for item in result.items:
            yield item
        if result.cursor is None:
            return
        cursor = result.cursor


def header(org_id: str, source: str, exported_at: float) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "organizationId": org_id, "source": source,
            "exportedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exported_at))}


def line(value: Any) -> bytes:
    """One line of the file: sorted keys, so the same items always make the same bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS) + b"\n"


async def export(store: Store, org_id: str, write: Callable[[bytes], Any], *, source: str,
                 progress: Progress = _quiet) -> int:
    """Write the organization as JSON Lines through ``write``; return how many items."""
    pk = keys.org_pk(org_id)  # an id that cannot be a key is refused before anything else
    write(line(header(org_id, source, store.clock())))
    count = 0
    pairs = Pairs(org_id)
    snapshot = await store.partition_snapshot(pk)  # one moment, where the backend can
    items = _each(snapshot) if snapshot is not None else partition_items(store, org_id)
    async for item in items:
        pairs.add(item)
        write(line({"item": item}))
        count += 1
        if count % 100 == 0:
            progress(count, None, "items exported")
    if pairs.unpaired():
        raise ExportInconsistent(
            f"{org_id} changed while it was exported ({len(pairs.unpaired())} items of a "
            "member or invitation without the claim written with it); export it again "
            "while nobody joins or leaves, or with the servers stopped")
    write(line({"end": {"items": count}}))
    progress(count, count, "items exported")
    return count


async def _each(items: list[Item]) -> AsyncIterator[Item]:
    for item in items:
        yield item


# Import


@dataclass(slots=True)
class ExportFile:
    org_id: str
    items: list[Item]
    lines: dict[Key, int]  # the line each item was read from, for messages


@dataclass(slots=True)
class ImportResult:
    org_id: str
    written: int = 0
    present: int = 0  # already in the store exactly as the file has them (a resumed import)
    expired: int = 0  # expired since the export: not written, as no read would see them
    groups: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def already_imported(self) -> bool:
        return self.written == 0 and self.present > 0


def parse(lines: Iterable[bytes | str]) -> ExportFile:
    """Read and check a whole export file; ImportRefused names the first bad line."""
    org_id: str | None = None
    items: list[Item] = []
    seen: dict[Key, int] = {}
    ended = False
    number = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if ended:
            raise ImportRefused(f"line {number}: nothing may follow the end line")
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ImportRefused(f"line {number}: not JSON") from None
        if not isinstance(value, dict):
            raise ImportRefused(f"line {number}: each line must be a JSON object")
        if org_id is None:
            org_id = _read_header(value, number)
            continue
        if set(value) == {"end"}:
            end = value["end"]
            if not isinstance(end, dict) or end.get("items") != len(items):
                raise ImportRefused(f"line {number}: the end line counts "
                                    f"{end.get('items') if isinstance(end, dict) else end!r} "
                                    f"items but the file holds {len(items)}")
            ended = True
            continue
        if set(value) != {"item"} or not isinstance(value["item"], dict):
            raise ImportRefused(f"line {number}: expected {{\"item\": {{...}}}} or the end "
                                "line")
        item = _read_item(value["item"], org_id, number)
        key = Key(item["PK"], item["SK"])
        if key in seen:
            raise ImportRefused(f"line {number}: the same item as line {seen[key]}")
        seen[key] = number
        items.append(item)
    if org_id is None:
        raise ImportRefused("the file is empty: expected an export made by "
                            "`devinsights org export`")
    if not ended:
        raise ImportRefused(f"the file ends at line {number} without its end line: it was cut "
                            "short; export the organization again")
    if keys.organization(org_id) not in seen:
        raise ImportRefused(f"the file has no organization item for {org_id}")
    pairs = Pairs(org_id)
    for item in items:
        pairs.add(item)
    unpaired = sorted(seen[k] for k in pairs.unpaired())
    if unpaired:
        raise ImportRefused(f"line {', '.join(map(str, unpaired[:5]))}: a member or "
                            "invitation without the claim written with it (or a claim without "
                            "it); the export is not one moment's state: export again")
    return ExportFile(org_id, items, seen)


def _read_header(value: dict[str, Any], number: int) -> str:
    if value.get("format") != FORMAT:
        raise ImportRefused(f"line {number}: not an organization export (expected format "
                            f"{FORMAT!r})")
    if value.get("version") != VERSION:
        raise ImportRefused(f"line {number}: export version {value.get('version')!r}; this "
                            f"server reads version {VERSION}")
    org_id = value.get("organizationId")
    if not isinstance(org_id, str):
        raise ImportRefused(f"line {number}: the header has no organizationId")
    try:
        keys.org_pk(org_id)
    except keys.InvalidKeyPart as exc:
        raise ImportRefused(f"line {number}: organizationId: {exc}") from None
    return org_id


def _read_item(item: dict[str, Any], org_id: str, number: int) -> Item:
    try:
        checked = check_item(item)
    except StoreError as exc:
        raise ImportRefused(f"line {number}: {exc}") from None
    if checked["PK"] != keys.org_pk(org_id):
        raise ImportRefused(f"line {number}: an item of another partition than {org_id}'s")
    if checked.get("organizationId", org_id) != org_id:
        raise ImportRefused(f"line {number}: organizationId is not {org_id}")
    # The index keys are what the item's kind makes them, so an edited file cannot put an
    # item into another organization's activity or another person's list of organizations.
    try:
        expected = _index_keys(checked, org_id)
    except (KeyError, TypeError, keys.InvalidKeyPart):
        raise ImportRefused(f"line {number}: a {checked.get('entityType')} item without "
                            "the attributes its kind has") from None
    present = {k: checked[k] for k in keys.ALL_KEY_ATTRIBUTES - set(keys.TABLE_KEYS)
               if k in checked}
    if present != expected:
        raise ImportRefused(f"line {number}: index keys that a "
                            f"{checked.get('entityType')} item does not have")
    return checked


def _index_keys(item: Item, org_id: str) -> dict[str, str]:
    """The GSI keys an item of this kind is written with (datastore/records.py)."""
    kind = item.get("entityType")
    if kind == "MEMBER":
        return {"GSI1PK": keys.email_index(item["email"]),
                "GSI1SK": keys.user_index(item["userId"]),
                "GSI2PK": keys.user_index(item["userId"]),
                "GSI2SK": keys.joined_index(int(item["joinedAt"]))}
    if kind == "ACTIVITY":
        return {"GSI2PK": keys.activity_index(org_id),
                "GSI2SK": keys.activity_time(int(item["at"]), item["eventId"])}
    return {}


def groups(items: Sequence[Item], org_id: str) -> tuple[list[list[Item]], Item]:
    """The items in write groups (see the module docstring), and the organization item."""
    org_key = keys.organization(org_id)
    by_key = {Key(i["PK"], i["SK"]): i for i in items}
    pairs = Pairs(org_id)
    for item in items:
        pairs.add(item)
    partners = pairs.partners()
    placed: set[Key] = set()
    out: list[list[Item]] = []
    for item in items:
        key = Key(item["PK"], item["SK"])
        if key == org_key or key in placed:
            continue
        group = [item]
        placed.add(key)
        partner = partners.get(key)
        if partner is not None and partner not in placed:
            group.append(by_key[partner])
            placed.add(partner)
        out.append(group)
    return out, by_key[org_key]


async def import_file(store: Store, export_file: ExportFile, *,
                      progress: Progress = _quiet) -> ImportResult:
    """Load a parsed export into ``store`` (see the module docstring)."""
    org_id = export_file.org_id
    result = ImportResult(org_id)
    wanted = {Key(i["PK"], i["SK"]): i for i in export_file.items}
    existing: dict[Key, Item] = {}
    async for item in partition_items(store, org_id):
        existing[Key(item["PK"], item["SK"])] = item
    strangers = [k for k in existing if k not in wanted]
    differing = [k for k, item in existing.items() if k in wanted and wanted[k] != item]
    if strangers or differing:
        lines = sorted(export_file.lines[k] for k in differing)
        raise ImportRefused(
            f"organization {org_id} already exists in this store with other data "
            f"({len(strangers)} items the file does not have, {len(differing)} that differ"
            + (f", lines {', '.join(map(str, lines[:5]))}" if lines else "")
            + "); import into a store without it, or delete it first "
              "(`devinsights org delete`)")
    now = store.clock()
    to_write: list[list[Item]] = []
    write_groups, org_item = groups(export_file.items, org_id)
    for group in [*write_groups, [org_item]]:
        live = [i for i in group if _alive(i, now)]
        result.expired += len(group) - len(live)
        missing = [i for i in live if Key(i["PK"], i["SK"]) not in existing]
        result.present += len(live) - len(missing)
        if missing:
            to_write.append(missing)
    result.groups = len(to_write)
    *body, last = to_write or [[]]
    done = result.present
    total = len(export_file.items) - result.expired
    for start in range(0, len(body), IMPORT_CONCURRENCY):
        chunk = body[start:start + IMPORT_CONCURRENCY]
        await _all(_write_group(store, g, export_file, now) for g in chunk)
        done += sum(len(g) for g in chunk)
        result.written += sum(len(g) for g in chunk)
        progress(done, total, "items imported")
    if last:  # the organization item, written after everything else
        await _write_group(store, last, export_file, now)
        result.written += len(last)
    progress(total, total, "items imported")
    return result


def _alive(item: Item, now: float) -> bool:
    expires = item.get(TTL_ATTRIBUTE)
    return not isinstance(expires, int | float) or isinstance(expires, bool) or expires > now


async def _write_group(store: Store, group: list[Item], export_file: ExportFile,
                       now: float) -> None:
    # An expired item TTL has not removed yet counts as absent, as it does for every read.
    absent = item_missing() | attr_lt(TTL_ATTRIBUTE, int(now) + 1)
    actions: list[Action] = [Put(i, absent) for i in group]
    try:
        await store.transact(actions)
    except TransactionCanceled as exc:
        clashed = [export_file.lines[Key(i["PK"], i["SK"])] for n, i in enumerate(group)
                   if exc.failed(n)]
        raise ImportRefused(
            f"line {', '.join(map(str, clashed))}: written by someone else while this import "
            "ran; nothing of its group was written. Run the import again to see what differs"
        ) from None


async def _all(calls: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``calls`` together and wait for every one, then raise the first failure: none is
    left running unseen when another fails (it might still write after we report)."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


# Delete


@dataclass(slots=True)
class DeleteResult:
    org_id: str
    deleted: int = 0


async def delete(store: Store, org_id: str, *, last: Sequence[Action] = (),
                 progress: Progress = _quiet) -> DeleteResult:
    """Delete every item of the partition (see the module docstring).

    ``last`` are actions for the final transaction beside the organization item's deletion
    (the deleting admin's own items, with the condition that they may still do it).
    """
    org_key = keys.organization(org_id)
    keep = {org_key, *(a.key for a in last)}
    result = DeleteResult(org_id)
    await _delete_all(store, org_id, keep, result, progress)
    if await store.get(org_key, consistent=True) is not None or last:
        await store.transact([*last, Delete(org_key)])
        result.deleted += 1 + len(last)
    # What a writer added while this ran (an activity event of a request in flight).
    await _delete_all(store, org_id, set(), result, progress)
    progress(result.deleted, result.deleted, "items deleted")
    return result


async def _delete_all(store: Store, org_id: str, keep: set[Key], result: DeleteResult,
                      progress: Progress) -> None:
    pending: list[Key] = []
    async for item in partition_items(store, org_id, page=DELETE_BATCH * 4,
                                      include_expired=True):
        key = Key(item["PK"], item["SK"])
        if key not in keep:
            pending.append(key)
        if len(pending) == DELETE_BATCH:
            await _delete_batch(store, pending, result, progress)
            pending = []
    if pending:
        await _delete_batch(store, pending, result, progress)


async def _delete_batch(store: Store, batch: list[Key], result: DeleteResult,
                        progress: Progress) -> None:
    await _all(store.delete(k) for k in batch)
    result.deleted += len(batch)
    progress(result.deleted, None, "items deleted")
