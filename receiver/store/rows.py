"""Rows to records and back: the column lists both dialects select, and how to read them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from receiver.store.records import Claimed, DeliveryRecord, EventRecord, Finish, FollowUpRecord

Row = Iterable[Any]

EVENT_COLUMNS = """id, seq, dedup_key, type, call_id, received_at, method, headers, envelope, raw,
    quarantine, released_at"""
FOLLOW_UP_COLUMNS = """key, event_id, handler, call_id, to_number, from_number, request,
    not_before, depth, status, attempts, next_attempt_at, reconcile, vocode_call_id, reason,
    sent_at, created_at, updated_at, reconcile_until"""
CLAIMED_COLUMNS = (
    "id, attempt, handler, event_id, call_id, envelope, side_effects, trace_context"
)
"""What a claim answers per delivery (the attempt is the new one), in this order."""


class PurgeStep(NamedTuple):
    """What one chunk of a purge removed, and the event ``seq`` to go on after (None: done)."""

    deliveries: int
    events: int
    after: int | None


def loads(value: Any) -> Any:
    """A JSON column's value: text on both drivers (PostgreSQL ``json`` reads as text)."""
    return json.loads(value)


def event_record(row: Row) -> EventRecord:
    (id_, seq, dedup_key, type_, call_id, received_at, method, headers, envelope, raw,
     quarantine, released_at) = row  # fmt: skip
    return EventRecord(
        id=id_,
        seq=seq,
        dedup_key=dedup_key,
        type=type_,
        call_id=call_id,
        received_at=received_at,
        method=method,
        headers=loads(headers),
        envelope=loads(envelope),
        raw=bytes(raw),
        quarantine=None if quarantine is None else loads(quarantine),
        released_at=released_at,
    )


def delivery_record(row: Row) -> DeliveryRecord:
    values = list(row)
    values[10] = bool(values[10])  # side_effects: 0/1 on SQLite
    return DeliveryRecord(*values)


def follow_up_record(row: Row) -> FollowUpRecord:
    values = list(row)
    values[6] = loads(values[6])  # request
    values[12] = bool(values[12])  # reconcile: 0/1 on SQLite
    return FollowUpRecord(*values)


def claimed(row: Row) -> Claimed:
    """A :data:`CLAIMED_COLUMNS` row."""
    id_, attempt, handler, event_id, call_id, envelope, side_effects, trace = row
    return Claimed(
        id_, attempt, handler, event_id, call_id, loads(envelope), bool(side_effects), trace
    )


FOLLOW_UP_INSERT = (
    "key, event_id, handler, call_id, to_number, from_number, request, not_before, status,"
    " trace_context"
)


def follow_up_rows(result: Finish) -> list[tuple[Any, ...]]:
    """The intents a finished attempt asked for, as :data:`FOLLOW_UP_INSERT` values: pending,
    or suppressed when its delivery runs without side effects (a replay that dials nobody).

    A key already recorded (a retried or replayed handler) is left alone by the insert. The
    numbers are E.164 already: ``ctx.follow_up`` refuses one it cannot read as such."""
    status = "pending" if result.side_effects else "suppressed"
    return [
        (r.key, r.event_id, r.handler, r.call_id, r.to_number,
         r.from_number, json.dumps(r.body()), r.not_before, status, r.trace_context)
        for r in result.follow_ups
    ]  # fmt: skip
