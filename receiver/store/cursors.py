"""Where an ordered handler's next claim starts its walk over the calls, on either dialect.

A claim walks the calls with work waiting from just after its cursor, wrapping around to the
first call, and takes the earliest due heads among the first it sees: it reads about what it
takes. The cursor then moves past the last call it took a head of, so that the calls after it
come first next time and every call gets its turn.
"""

from __future__ import annotations

from collections.abc import Iterable


def advance(cursors: dict[str, str], taken: Iterable[tuple[str, str]]) -> None:
    """Move each handler's cursor past the last call (in the walk's order: the calls after the
    cursor, then, wrapped around, those up to it) of ``taken``, (handler, call id) pairs of
    the heads a claim took."""
    calls: dict[str, list[str]] = {}
    for handler, call_id in taken:
        calls.setdefault(handler, []).append(call_id)
    for handler, ids in calls.items():
        cursor = cursors.get(handler, "")
        wrapped = [c for c in ids if c <= cursor]
        cursors[handler] = max(wrapped) if wrapped else max(ids)
