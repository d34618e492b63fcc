"""Relay cursors: the store's continuation, signed and bound to the org and the field.

A cursor replayed by another organization, or on another connection field, fails the HMAC
check and is rejected before the store sees it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


class InvalidCursor(ValueError):
    pass


def _mac(secret: bytes, org_id: str, field: str, body: bytes) -> bytes:
    msg = org_id.encode() + b"\x00" + field.encode() + b"\x00" + body
    return hmac.new(secret, msg, hashlib.sha256).digest()[:16]


def sign(secret: bytes, org_id: str, field: str, store_cursor: str) -> str:
    body = store_cursor.encode()
    raw = _mac(secret, org_id, field, body) + body
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def verify(secret: bytes, org_id: str, field: str, cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    mac, body = raw[:16], raw[16:]
    if len(mac) != 16 or not hmac.compare_digest(mac, _mac(secret, org_id, field, body)):
        raise InvalidCursor(f"the cursor is not valid for {field}; request the first page "
                            "again without `after`")
    return body.decode()
