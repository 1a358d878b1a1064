"""A backlog of pending deliveries written in bulk, for ``python -m bench scale``.

The store creates its schema (``open`` migrates); the rows then go in directly, in one
transaction: ``executemany`` on SQLite, ``COPY`` on PostgreSQL. A million events take
seconds this way, where intake (or :func:`bench.preload.preload`) would take many minutes.

The rows are what intake would have written: events spread round-robin over calls of
``per_call`` events (each call opens with ``event_phone_call_connected``, ends with
``event_phone_call_ended``, messages between), one pending delivery per event for each of
:data:`HANDLERS`, each call known in ``calls`` (ended: the reconciler has nothing to do).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg

from receiver.intake.dedup import canonical
from receiver.settings import load_settings
from receiver.store import create_store
from receiver.testing import sample

DEFAULT_HANDLER = "log.events"  # handlers.log:router, unordered
ORDERED_HANDLER = "bench.noop"  # bench.pg_handlers:router, ordered
HANDLERS = (DEFAULT_HANDLER, ORDERED_HANDLER)
CHUNK = 20_000
_SENTINEL = "@@CALL_ID@@"


@dataclass(frozen=True)
class Backlog:
    """``deliveries`` pending deliveries: half as many events, one delivery per handler."""

    deliveries: int
    per_call: int = 5

    @property
    def events(self) -> int:
        return max(1, self.deliveries // len(HANDLERS))

    @property
    def calls(self) -> int:
        return max(1, self.events // self.per_call)


def _templates() -> dict[str, tuple[str, str]]:
    """Per type, its sample's canonical JSON split around the call id."""
    out = {}
    for kind in ("event_phone_call_connected", "event_message", "event_phone_call_ended"):
        body = sample(kind)
        body["call_id"] = _SENTINEL
        before, after = canonical(body).split(_SENTINEL)
        out[kind] = (before, after)
    return out


def _event_rows(backlog: Backlog, start: int, stop: int, now: float) -> Iterator[tuple]:
    """``(seq, id, dedup_key, type, call_id, received_at, envelope)`` of events start..stop."""
    templates, calls = _templates(), backlog.calls
    last = (backlog.events - 1) // calls  # the index of a call's last event
    for n in range(start, stop):
        nth = n // calls
        kind = (
            "event_phone_call_connected" if nth == 0
            else "event_phone_call_ended" if nth == last
            else "event_message"
        )  # fmt: skip
        call_id = f"call-{n % calls:07d}"
        before, after = templates[kind]
        at = now - (backlog.events - n) * 0.001  # the oldest first, a millisecond apart
        yield n + 1, f"evt_{n:09d}", f"scale:{n}", kind, call_id, at, before + call_id + after


def _call_rows(backlog: Backlog, now: float) -> Iterator[tuple]:
    """``(call_id, events, first_seen_at, terminal_event_id)`` of every call."""
    calls = backlog.calls
    for c in range(calls):
        count = len(range(c, backlog.events, calls))
        last = c + (count - 1) * calls
        yield f"call-{c:07d}", count, now - (backlog.events - c) * 0.001, f"evt_{last:09d}"


async def migrate(url: str) -> None:
    """Create the schema as ``receiver serve`` would."""
    store = create_store(load_settings(database_url=url))
    await store.open()
    await store.close()


def load_sqlite(path: str, backlog: Backlog) -> None:
    now = time.time()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # the load only; the store sets its own
        conn.execute("BEGIN")
        for start in range(0, backlog.events, CHUNK):
            rows = list(_event_rows(backlog, start, min(backlog.events, start + CHUNK), now))
            conn.executemany(
                "INSERT INTO events (seq, id, dedup_key, type, call_id, received_at, method,"
                " headers, envelope, raw) VALUES (?, ?, ?, ?, ?, ?, 'POST', '{}', ?, ?)",
                [(*r, r[6].encode()) for r in rows],
            )
            conn.executemany(
                "INSERT INTO deliveries (event_seq, event_id, handler, call_id, next_attempt_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r[0], r[1], h, r[4], r[5], r[5], r[5]) for r in rows for h in HANDLERS],
            )
        conn.executemany(
            "INSERT INTO calls (call_id, origin, status, stage, events, last_event_type,"
            " first_seen_at, last_seen_at, terminal_event_id, updated_at)"
            " VALUES (?, 'event', 'ended', 'ended', ?, 'event_phone_call_ended', ?, ?, ?, ?)",
            [(c, n, at, now, last, now) for c, n, at, last in _call_rows(backlog, now)],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


async def load_postgres(url: str, backlog: Backlog) -> None:
    now = time.time()
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for start in range(0, backlog.events, CHUNK):
                rows = list(_event_rows(backlog, start, min(backlog.events, start + CHUNK), now))
                await conn.copy_records_to_table(
                    "events",
                    columns=("seq", "id", "dedup_key", "type", "call_id", "received_at",
                             "method", "headers", "envelope", "raw"),
                    records=[(*r[:6], "POST", "{}", r[6], r[6].encode()) for r in rows],
                )  # fmt: skip
                await conn.copy_records_to_table(
                    "deliveries",
                    columns=("event_seq", "event_id", "handler", "call_id", "next_attempt_at",
                             "created_at", "updated_at"),
                    records=[(r[0], r[1], h, r[4], r[5], r[5], r[5]) for r in rows
                             for h in HANDLERS],
                )  # fmt: skip
            await conn.copy_records_to_table(
                "calls",
                columns=("call_id", "origin", "status", "stage", "events", "last_event_type",
                         "first_seen_at", "last_seen_at", "terminal_event_id", "updated_at"),
                records=[(c, "event", "ended", "ended", n, "event_phone_call_ended", at, now,
                          last, now) for c, n, at, last in _call_rows(backlog, now)],
            )  # fmt: skip
            await conn.execute("SELECT setval('events_seq', $1)", backlog.events)
        # what autovacuum does to a table that grew this much, before the run is measured
        await conn.execute("VACUUM ANALYZE events, deliveries, calls")
    finally:
        await conn.close()
