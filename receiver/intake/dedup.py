"""Event ids, the canonical JSON of what was sent, and the deduplication key made from it.

No Vocode event carries an id. The key is the sender's idempotency key when a relay gives one
(``webhook-id`` / ``Idempotency-Key``), else a digest of (type, call id, canonical payload):
the same event delivered twice has the same key, and the store's unique constraint decides.

A call ends once: the key of a terminal event (ended, did not connect) is its call and type,
whatever its payload or headers. The one the receiver synthesised when the event did not come
(``receiver/calls``) and the real one arriving late are then one event, stored once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from receiver.events import TERMINAL_TYPES


def new_event_id() -> str:
    """Time-ordered, unguessable: ``evt_`` + microseconds (hex) + 40 random bits."""
    return f"evt_{time.time_ns() // 1000:013x}{secrets.token_hex(5)}"


def canonical(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the JSON that dedup keys are digests of.

    A float that is not finite raises ``ValueError`` (it is not JSON). Stored dedup keys are
    digests of exactly these bytes: ``tests/test_intake_json.py`` pins them.
    """
    return _CANONICAL.encode(value)


# what json.dumps(value, **these) does, without building the encoder at every call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)  # fmt: skip


CONTENT_KEY = "s:"
"""The prefix of a key that is a digest of the content (a new reading of it gives a new key)."""
TERMINAL_KEY = "t:"
"""The prefix of a terminal event's key: a digest of its type and call only."""


def terminal_key(type_: str, call_id: str) -> str:
    """The key of a call's terminal event of ``type_``, received or synthesised."""
    return TERMINAL_KEY + hashlib.sha256(f"{type_}\n{call_id}".encode()).hexdigest()


def dedup_key(type_: str, call_id: str, payload_json: str, header_key: str | None) -> str:
    """A terminal event's call and type; else the sender's idempotency key when it gives
    one, else a digest of what it sent."""
    if type_ in TERMINAL_TYPES:
        return terminal_key(type_, call_id)
    if header_key:
        return "h:" + header_key
    digest = hashlib.sha256(f"{type_}\n{call_id}\n{payload_json}".encode())
    return CONTENT_KEY + digest.hexdigest()
