"""Relay's ``Node`` interface and the global ids of every entity with identity.

A global id is Relay's usual base64 of ``Type:nodeId`` (Strawberry's own encoding, so
``strawberry.relay.GlobalID.from_id`` reads ours). The node id always starts with the
organization, so one person in two organizations is two memberships with two ids, and a
client's normalized cache never merges them. ``#`` separates the parts: no key part may
contain it (datastore/keys.py), so the split is unambiguous.

Ids are encoded as plain attributes when a record becomes an object, not through
``strawberry.relay.Node``'s id resolver: that is one resolver call per object, and a
100-member page resolves a hundred of them.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import strawberry
from strawberry.relay.utils import from_base64, to_base64


@strawberry.interface(description="An object with a global id; fetch it again with "
                                  "`node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque and unique across organizations and types; keep it as a cache "
                    "key or pass it to `node(id:)`. Do not parse it.")


def global_id(type_name: str, *parts: str) -> strawberry.ID:
    return strawberry.ID(to_base64(type_name, "#".join(parts)))


@dataclass(frozen=True, slots=True)
class GlobalId:
    type_name: str
    org_id: str
    rest: tuple[str, ...]


def parse_global_id(value: str) -> GlobalId | None:
    """The parts of a global id, or None for anything that is not one of ours."""
    if len(value) > 1200:
        return None
    try:
        type_name, node_id = from_base64(value)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None
    org_id, *rest = node_id.split("#")
    if not type_name or not org_id or any(not p for p in rest):
        return None
    return GlobalId(type_name, org_id, tuple(rest))
