"""What a payload may hold, on every path into it: a JSON body, a GET's ``payload`` JSON
string, and a GET's ``payload.<a>.<b>`` keys.

Refused with 400 (``malformed``), the same on both stores, because neither can keep them as
JSON (or keep them at all) and no JSON sender produces them:

- ``NaN``, ``Infinity`` and ``-Infinity``: not JSON (the parser refuses them); Python's
  ``requests`` and ``httpx`` refuse to send them;
- numbers beyond the range of a float (``1e400``): they would be stored as ``Infinity``;
- NUL (U+0000) in any string or key: PostgreSQL's text cannot hold it, and ``type`` and
  ``call_id`` are text columns;
- nesting deeper than :data:`MAX_DEPTH`: the JSON parser stops at 200 levels; dotted GET keys
  are held to the same bound (before, 256 levels of them made a 500 when the envelope was
  serialised).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

from receiver.errors import RejectedDelivery
from receiver.intake.dedup import canonical

T = TypeVar("T")
MAX_DEPTH = 64  # levels of payload.a.b... keys in a GET; JSON is bounded by its parser (200)


def check_json_values(raw: bytes, data: Any) -> None:
    """Refuse ``data`` (decoded from ``raw``) if a string or key holds NUL.

    In JSON text a NUL can only be the escape ``\\u0000``: the decoded value is walked only
    when ``raw`` holds one, so a well-formed event costs one search of its bytes.
    """
    if b"\\u0000" in raw:
        check_values(data)


def check_values(data: Any) -> None:
    """Refuse NUL in any string or key, and any float that is not finite (walks it all)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise RejectedDelivery("malformed", OUT_OF_RANGE)
        elif isinstance(value, dict):
            for key in value:
                _check_string(key)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _check_string(value: str) -> None:
    if "\x00" in value:
        raise RejectedDelivery("malformed", "a string holds NUL (U+0000)")


def check_key_depth(parts: list[str]) -> None:
    """Refuse a ``payload.<a>.<b>...`` key whose ``parts`` (after ``payload``, split at most
    ``MAX_DEPTH + 1`` times) nest deeper than :data:`MAX_DEPTH`."""
    if len(parts) > MAX_DEPTH:
        raise RejectedDelivery("malformed", f"payload.<field> keys nest at most {MAX_DEPTH} deep")


def event_json(envelope: dict[str, Any]) -> tuple[str, str]:
    """The canonical JSON of an event's payload and of its envelope, the JSON to store;
    refused (400) when encoding refuses a number that is not finite: ``1e400`` parses as
    infinity, and this is where it shows, at no cost to events that hold none."""
    try:
        return canonical(envelope["payload"]), canonical(envelope)
    except ValueError:
        raise RejectedDelivery("malformed", OUT_OF_RANGE) from None


OUT_OF_RANGE = "a number is out of range (beyond a float, or NaN or infinite)"
