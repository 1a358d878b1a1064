"""What each store operation does, written once for both dialects.

An operation is a *plan*: a generator that yields the statements to run and receives each
one's result (rows for :class:`Fetch`, a row count for :class:`Execute`), then returns the
operation's answer. It never touches a connection. Each dialect runs plans its own way — the
SQLite store inside its writer thread's transaction (synchronously, so that group commit
holds), the PostgreSQL store on a pooled connection in a transaction (asynchronously) — and
supplies the SQL that differs between the two (:class:`~receiver.store.queries.Queries`).
An error raised by a statement is thrown into the plan at the ``yield``, so a plan may catch
it.

Statements use ``:name`` parameters; list values stand for SQL arrays (see
:meth:`Queries.any_of`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from receiver.errors import MigrationError
from receiver.follow_ups.guards import FollowUpGuards, refusal
from receiver.numbers import normalise_number
from receiver.store import rows
from receiver.store.queries import Queries
from receiver.store.records import (
    ClaimedFollowUp,
    DeliveryFilter,
    DeliveryRecord,
    DncEntry,
    EventRecord,
    FollowUpClaim,
    FollowUpRecord,
    HandlerStats,
    SchemaState,
)

T = TypeVar("T")
Row = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Fetch:
    """Run ``sql`` and send back its rows."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Execute:
    """Run ``sql`` and send back how many rows it changed."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Script:
    """Run several ``;``-separated statements without parameters (a schema version)."""

    sql: str


Step = Fetch | Execute | Script
Plan = Generator[Step, Any, T]


class Driver(Generic[T]):
    """Steps a plan: ``step`` is what to run next until ``done``, then ``value`` is its answer.

    A runner is a loop: run ``step``; hand the result to :meth:`send`, or the error to
    :meth:`throw`.
    """

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self.done = False
        self.value: T | None = None
        self.step: Step = Script("")
        self._resume(lambda: next(plan))

    def send(self, result: Any) -> None:
        self._resume(lambda: self._plan.send(result))

    def throw(self, error: BaseException) -> None:
        self._resume(lambda: self._plan.throw(error))

    def _resume(self, advance: Any) -> None:
        try:
            self.step = advance()
        except StopIteration as stop:
            self.done, self.value = True, stop.value


def one(plan: Plan[T]) -> T:
    """The answer of a plan that runs no statement (for its shortcuts)."""
    driver = Driver(plan)
    assert driver.done, "the plan runs statements"
    return driver.value  # type: ignore[return-value]  # done: value is the plan's answer


def ping() -> Plan[None]:
    yield Fetch("SELECT 1")


# schema --------------------------------------------------------------------------------------


def schema_state(q: Queries) -> Plan[SchemaState]:
    [(exists,)] = yield Fetch(q.has_schema_version)
    current = 0
    if exists:
        [(current,)] = yield Fetch("SELECT coalesce(max(version), 0) FROM schema_version")
    return SchemaState(current, len(q.versions))


def migrate(q: Queries) -> Plan[SchemaState]:
    """Apply the pending versions in order, under the dialect's lock: processes starting
    together apply each version once."""
    [(schema,)] = yield Fetch(q.current_schema)
    if schema is None:
        raise MigrationError("no schema to create tables in: create the search_path's schema")
    yield Execute(q.lock_schema, {"schema": schema})
    yield Execute(q.create_schema_version)
    state = yield from schema_state(q)
    if state.current > state.latest:
        raise MigrationError(
            f"the database is at schema version {state.current}; "
            f"this version of vocode-receiver knows up to {state.latest}"
        )
    applied = []
    for version in range(state.current + 1, state.latest + 1):
        try:
            yield Script(q.versions[version - 1])
        except MigrationError:
            raise
        except Exception as exc:
            raise MigrationError(f"schema version {version} failed: {exc}") from exc
        yield Execute(
            f"INSERT INTO schema_version VALUES (:version, {q.now})",
            {"version": version, "now": time.time()},
        )
        applied.append(version)
    return SchemaState(state.latest, state.latest, applied)


# events --------------------------------------------------------------------------------------

_EVENT = f"SELECT {rows.EVENT_COLUMNS} FROM events"


def get_event(event_id: str) -> Plan[EventRecord | None]:
    found = yield Fetch(f"{_EVENT} WHERE id = :id", {"id": event_id})
    return rows.event_record(found[0]) if found else None


def list_events(type: str | None, call_id: str | None, limit: int) -> Plan[list[EventRecord]]:
    params = {"type": type, "call_id": call_id, "limit": limit}
    where = _where(f"{c} = :{c}" for c in ("type", "call_id") if params[c] is not None)
    found = yield Fetch(f"{_EVENT}{where} ORDER BY seq DESC LIMIT :limit", params)
    return [rows.event_record(row) for row in found]


def count_events() -> Plan[int]:
    [(count,)] = yield Fetch("SELECT count(*) FROM events")
    return int(count)


_FINISHED = "('done', 'dropped', 'skipped')"


def purge_chunk(q: Queries, before: float, after_seq: int, batch: int) -> Plan[rows.PurgeStep]:
    """Within the next ``batch`` events after ``after_seq``: delete the deliveries that
    finished before ``before``, then the events received before it that have none left.

    A delivery finishes after its event arrived, so walking the old events finds every
    finished delivery to delete, through the ``(event_seq, handler)`` index: deliveries need
    no index on their status for it. The walk ends at events newer than ``before``.
    """
    chunk = yield Fetch(
        "SELECT seq, received_at FROM events WHERE seq > :after ORDER BY seq LIMIT :limit",
        {"after": after_seq, "limit": batch},
    )
    if not chunk:
        return rows.PurgeStep(0, 0, None)
    old = [seq for seq, received_at in chunk if received_at < before]
    deliveries = yield Execute(
        f"DELETE FROM deliveries WHERE {q.any_of('event_seq', 'seqs', 'bigint')}"
        f" AND status IN {_FINISHED} AND next_attempt_at < :before",
        {"seqs": old, "before": before},
    )
    events = yield Execute(
        f"DELETE FROM events WHERE {q.any_of('seq', 'seqs', 'bigint')}"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)",
        {"seqs": old},
    )
    go_on = None if len(old) < len(chunk) else chunk[-1][0]
    return rows.PurgeStep(deliveries, events, go_on)


# deliveries ----------------------------------------------------------------------------------


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
    ):
        if params[name] is not None:
            clauses.append(f"{column} {op} :{name}")
    if where.ids:
        params["ids"] = list(where.ids)
        clauses.append(q.any_of("d.id", "ids", "bigint"))
    sql = f"SELECT {q.delivery_columns} FROM deliveries d JOIN events e ON e.seq = d.event_seq"
    sql += _where(clauses) + " ORDER BY d.id DESC"
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


# follow-ups ----------------------------------------------------------------------------------


def claim_follow_ups(
    q: Queries, limit: int, lease: float, guards: FollowUpGuards
) -> Plan[FollowUpClaim]:
    """Lock the due intents, then each destination number (in one order for every sender),
    then decide each intent with the counts read under those locks.

    Guards apply to intents that cannot have been sent yet; one whose sender may have sent
    it (an expired ``sending`` lease, or flagged ``reconcile``) is claimed to be looked for.
    """
    now = time.time()
    due = yield Fetch(q.follow_ups_due, {"limit": limit, "now": now})
    if not due:
        return FollowUpClaim([], [])
    numbers = sorted({row[2] for row in due})
    yield Execute(q.lock_numbers, {"numbers": numbers})
    [(now,)] = yield Fetch(f"SELECT {q.now}", {"now": now})
    since = now - guards.window_seconds
    listed = yield Fetch(
        f"SELECT number FROM do_not_call WHERE {q.any_of('number', 'numbers', 'text')}",
        {"numbers": numbers},
    )
    recent = yield Fetch(
        "SELECT to_number, count(*) FROM follow_ups"
        f" WHERE {q.any_of('to_number', 'numbers', 'text')}"
        f" AND sent_at >= :since AND status NOT IN {_NOT_CALLS} GROUP BY to_number",
        {"numbers": numbers, "since": since},
    )
    calls = Counter({number: count for number, count in recent})
    blocked = {number for (number,) in listed}
    claimed, refused = [], []
    for key, attempts, number, request, depth, reconcile, status, sent_at in due:
        counted = sent_at is not None and sent_at >= since  # this intent is in calls[number]
        maybe_sent = bool(reconcile) or status == "sending"  # a sender died mid-request
        reason = None
        if not maybe_sent:
            others = calls[number] - counted
            reason = refusal(guards, listed=number in blocked, depth=depth, recent_calls=others)
        if reason is not None:
            calls[number] -= counted  # refused intents are not calls
            yield Execute(
                f"UPDATE follow_ups SET status = 'refused', reason = :reason, updated_at = {q.now}"
                " WHERE key = :key",
                {"reason": reason, "key": key, "now": now},
            )
            refused.append((key, reason))
            continue
        calls[number] += not counted
        yield Execute(
            "UPDATE follow_ups SET status = 'sending', attempts = attempts + 1,"
            " lease_until = :until, next_attempt_at = :until, reconcile = :reconcile,"
            " sent_at = :now, updated_at = :now WHERE key = :key",
            {"until": now + lease, "reconcile": maybe_sent, "now": now, "key": key},
        )
        claimed.append(
            ClaimedFollowUp(key, attempts + 1, number, rows.loads(request), depth, maybe_sent)
        )
    return FollowUpClaim(claimed, refused)


_NOT_CALLS = "('rejected', 'refused', 'cancelled')"


def complete_follow_up(
    q: Queries,
    key: str,
    attempt: int,
    status: str,
    vocode_call_id: str | None,
    reason: str | None,
    next_attempt_at: float | None,
    reconcile: bool,
) -> Plan[bool]:
    now = time.time()
    changed = yield Execute(
        f"UPDATE follow_ups SET status = :status, vocode_call_id = :vocode_call_id,"
        f" reason = :reason, next_attempt_at = {q.now} + :delay, reconcile = :reconcile,"
        f" lease_until = NULL, updated_at = {q.now}"
        " WHERE key = :key AND attempts = :attempt AND status = 'sending'",
        {
            "status": status,
            "vocode_call_id": vocode_call_id,
            "reason": reason,
            "delay": max(0.0, next_attempt_at - now) if next_attempt_at else 0.0,
            "reconcile": reconcile,
            "key": key,
            "attempt": attempt,
            "now": now,
        },
    )
    return bool(changed == 1)


def list_follow_ups(
    status: str | None, key: str | None, limit: int
) -> Plan[list[FollowUpRecord]]:
    params = {"status": status, "key": key, "limit": limit}
    where = _where(f"{c} = :{c}" for c in ("status", "key") if params[c] is not None)
    found = yield Fetch(
        f"SELECT {rows.FOLLOW_UP_COLUMNS} FROM follow_ups{where}"
        " ORDER BY created_at DESC LIMIT :limit",
        params,
    )
    return [rows.follow_up_record(row) for row in found]


def release_follow_up(q: Queries, key: str) -> Plan[bool]:
    changed = yield Execute(
        f"UPDATE follow_ups SET status = 'pending', attempts = 0, next_attempt_at = {q.now},"
        f" updated_at = {q.now} WHERE key = :key AND status IN ('held', 'rejected', 'refused')",
        {"key": key, "now": time.time()},
    )
    return bool(changed == 1)


def cancel_follow_up(q: Queries, key: str) -> Plan[bool]:
    changed = yield Execute(
        f"UPDATE follow_ups SET status = 'cancelled', updated_at = {q.now} WHERE key = :key"
        " AND status IN ('pending', 'held', 'rejected', 'refused', 'suppressed')",
        {"key": key, "now": time.time()},
    )
    return bool(changed == 1)


def dnc_add(q: Queries, number: str, reason: str | None) -> Plan[None]:
    yield Execute(
        f"INSERT INTO do_not_call (number, reason, created_at) VALUES (:number, :reason, {q.now})"
        " ON CONFLICT (number) DO UPDATE SET reason = excluded.reason",
        {"number": normalise_number(number), "reason": reason, "now": time.time()},
    )


def dnc_remove(number: str) -> Plan[bool]:
    changed = yield Execute(
        "DELETE FROM do_not_call WHERE number = :number", {"number": normalise_number(number)}
    )
    return bool(changed == 1)


def dnc_list() -> Plan[list[DncEntry]]:
    found = yield Fetch("SELECT number, reason, created_at FROM do_not_call ORDER BY number")
    return [(number, reason, created_at) for number, reason, created_at in found]


# helpers -------------------------------------------------------------------------------------


def vars_of(where: DeliveryFilter) -> dict[str, Any]:
    return {
        "status": where.status,
        "handler": where.handler,
        "type": where.type,
        "since": where.since,
        "until": where.until,
        "limit": where.limit,
    }


def _where(clauses: Any) -> str:
    clauses = list(clauses)
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""
