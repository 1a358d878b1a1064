"""Deliveries as operator commands and the metrics see them: listed, requeued, released, counted."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from receiver.store import rows
from receiver.store.plan import Execute, Fetch, Plan, where_sql
from receiver.store.queries import Queries
from receiver.store.records import DeliveryFilter, DeliveryRecord, HandlerStats


def release(q: Queries, claims: list[tuple[int, int]]) -> Plan[int]:
    params = {"ids": [c[0] for c in claims], "attempts": [c[1] for c in claims]}
    released: int = yield Execute(q.release, {**params, "now": time.time()})
    return released


def requeue(q: Queries, ids: list[int], side_effects: bool) -> Plan[int]:
    params = {"ids": ids, "side_effects": side_effects, "now": time.time()}
    requeued: int = yield Execute(q.requeue, params)
    return requeued


def list_deliveries(q: Queries, where: DeliveryFilter) -> Plan[list[DeliveryRecord]]:
    clauses, params = [], vars_of(where)
    if where.status is not None:
        clauses.append(q.delivery_status.get(where.status, "d.status = :status"))
    for column, name, op in (
        ("d.handler", "handler", "="),
        ("e.type", "type", "="),
        ("d.created_at", "since", ">="),
        ("d.created_at", "until", "<"),
        ("e.call_id", "call_id", "="),  # through events_call, then each event's deliveries
        ("d.id", "before", "<"),
    ):
        if params[name] is not None:
            clauses.append(f"{column} {op} :{name}")
    if where.ids:
        params["ids"] = list(where.ids)
        clauses.append(q.any_of("d.id", "ids", "bigint"))
    sql = f"SELECT {q.delivery_columns} FROM deliveries d JOIN events e ON e.seq = d.event_seq"
    sql += where_sql(clauses) + " ORDER BY d.id DESC"
    if where.limit is not None:
        sql += " LIMIT :limit"
    found = yield Fetch(sql, params)
    return [rows.delivery_record(row) for row in found]


def delivery_stats(q: Queries) -> Plan[dict[str, HandlerStats]]:
    found = yield Fetch(q.delivery_stats, {"now": time.time()})
    return {
        handler: HandlerStats(active, max(0.0, age) if active else 0.0, dead)
        for handler, active, age, dead in found
    }


def vars_of(where: DeliveryFilter) -> dict[str, Any]:
    return {
        "status": where.status,
        "handler": where.handler,
        "type": where.type,
        "since": where.since,
        "until": where.until,
        "limit": where.limit,
        "call_id": where.call_id,
        "before": where.before,
    }


def insert_deliveries(
    q: Queries, seq: int, event_id: str, call_id: str, handlers: Iterable[str], now: float
) -> Plan[None]:
    """A pending delivery of a stored event for each of ``handlers``, due now; one that exists
    already is left alone."""
    for handler in handlers:
        yield Execute(
            "INSERT INTO deliveries (event_seq, event_id, handler, call_id, next_attempt_at,"
            f" created_at, updated_at) VALUES (:seq, :id, :handler, :call_id, {q.now},"
            f" {q.now}, {q.now}) ON CONFLICT (event_seq, handler) DO NOTHING",
            {"seq": seq, "id": event_id, "handler": handler, "call_id": call_id, "now": now},
        )
