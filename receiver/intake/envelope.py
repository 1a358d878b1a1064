"""Reading a request into the hosted envelope: the JSON body, or a GET's query parameters;
and pydantic's errors as an answer may carry them (locations and messages, never values).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

import pydantic_core
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from receiver.errors import RejectedDelivery
from receiver.events import EVENT_TYPES
from receiver.intake.limits import MAX_DEPTH, check_key_depth, check_values

_TAGS = frozenset((*EVENT_TYPES, "unknown"))


def media_type_ok(value: bytes | None) -> bool:
    if value is None:  # Vocode's headers are undocumented: a missing type is tried as JSON
        return True
    media = value.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def field_errors(exc: ValidationError) -> list[ErrorDetails]:
    """pydantic's locations and messages, never the submitted values."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    for error in errors:  # drop the union's tag ("event_message", ...) from the location
        loc = error["loc"]
        if loc and isinstance(loc[0], str) and loc[0] in _TAGS:
            error["loc"] = loc[1:]
    return errors


def is_token_pair(pair: bytes) -> bool:
    """``token=...``, however its name is percent-encoded: never kept in the raw query."""
    return unquote_plus(pair.split(b"=", 1)[0].decode("latin-1")) == "token"


def query_envelope(params: list[tuple[str, str]]) -> dict[str, Any]:
    """``type``, ``call_id`` and ``payload`` (one JSON string, or ``payload.<field>`` pairs)."""
    data: dict[str, Any] = {}
    for key, value in params:
        if key == "token":
            continue
        if key == "payload":
            try:
                data["payload"] = pydantic_core.from_json(value, allow_inf_nan=False)
            except ValueError as exc:
                raise RejectedDelivery("malformed", f"payload is not JSON: {exc}") from None
        elif key.startswith("payload."):
            node = data.setdefault("payload", {})
            if not isinstance(node, dict):
                raise RejectedDelivery("malformed", "payload given both as JSON and as fields")
            parts = key.split(".", MAX_DEPTH + 1)[1:]
            check_key_depth(parts)
            *parents, leaf = parts
            for part in parents:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise RejectedDelivery("malformed", f"conflicting query keys at {key}")
            node[leaf] = value
        else:
            data[key] = value
    check_values(data)
    return data
