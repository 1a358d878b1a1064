"""Follow-up intents through their life (claimed under the guards, completed, released,
cancelled) and the do-not-call list."""

from __future__ import annotations

import time
from collections import Counter

from receiver.store import rows
from receiver.store.calls import track_created
from receiver.store.plan import Execute, Fetch, Plan, where_sql
from receiver.store.queries import Queries
from receiver.store.records import (
    ClaimedFollowUp,
    DncEntry,
    FollowUpClaim,
    FollowUpQuery,
    FollowUpRecord,
    FollowUpStats,
    Guards,
)


def claim_follow_ups(
    q: Queries, limit: int, lease: float, guards: Guards, reconcile_window: float = 0.0
) -> Plan[FollowUpClaim]:
    """Lock the due intents, then each destination number (in one order for every sender),
    then decide each intent with the counts read under those locks.

    Guards apply to every intent this claim may send: new ones, and released ones (looked for
    once, then sent). One whose sender may have sent it (an expired ``sending`` lease, or a
    search under way) is claimed only to be looked for, unguarded; one whose sender died
    mid-request is looked for until ``reconcile_window`` from now, unless a search is under
    way already.
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
    for key, attempts, number, request, depth, reconcile, status, sent_at, trace, until in due:
        counted = sent_at is not None and sent_at >= since  # this intent is in calls[number]
        maybe_sent = bool(reconcile) or status == "sending"  # a sender died mid-request
        if status == "sending" and until is None:
            until = now + reconcile_window
        reason = None
        if until is None:  # it may be sent by this claim (new, or released): guard it
            others = calls[number] - counted
            reason = guards.refusal(listed=number in blocked, depth=depth, recent_calls=others)
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
            " lease_until = :lease, next_attempt_at = :lease, reconcile = :reconcile,"
            " reconcile_until = :until, sent_at = :now, updated_at = :now WHERE key = :key",
            {"lease": now + lease, "reconcile": maybe_sent, "until": until, "now": now,
             "key": key},
        )  # fmt: skip
        claimed.append(
            ClaimedFollowUp(
                key, attempts + 1, number, rows.loads(request), depth, maybe_sent, trace, until
            )
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
    reconcile_until: float | None = None,
) -> Plan[bool]:
    now = time.time()
    changed = yield Execute(
        f"UPDATE follow_ups SET status = :status, vocode_call_id = :vocode_call_id,"
        f" reason = :reason, next_attempt_at = {q.now} + :delay, reconcile = :reconcile,"
        f" reconcile_until = :reconcile_until, lease_until = NULL, updated_at = {q.now}"
        " WHERE key = :key AND attempts = :attempt AND status = 'sending'",
        {
            "status": status,
            "vocode_call_id": vocode_call_id,
            "reason": reason,
            "delay": max(0.0, next_attempt_at - now) if next_attempt_at else 0.0,
            "reconcile": reconcile,
            "reconcile_until": reconcile_until,
            "key": key,
            "attempt": attempt,
            "now": now,
        },
    )
    if changed == 1 and status == "created" and vocode_call_id:
        yield from track_created(q, vocode_call_id, now)
    return bool(changed == 1)


def list_follow_ups(where: FollowUpQuery) -> Plan[list[FollowUpRecord]]:
    """Newest first, each filter through its index (``follow_ups_status``,
    ``follow_ups_origin``, ``follow_ups_call``, or ``follow_ups_created`` for none); the next
    page starts below the last one's (created_at, key)."""
    params: dict[str, object] = {
        "status": where.status, "key": where.key, "call_id": where.call_id,
        "vocode_call_id": where.vocode_call_id, "limit": where.limit,
    }  # fmt: skip
    clauses = [f"{c} = :{c}" for c in params if c != "limit" and params[c] is not None]
    if where.before is not None:
        params["before_at"], params["before_key"] = where.before
        clauses.append("(created_at, key) < (:before_at, :before_key)")
    found = yield Fetch(
        f"SELECT {rows.FOLLOW_UP_COLUMNS} FROM follow_ups{where_sql(clauses)}"
        " ORDER BY created_at DESC, key DESC LIMIT :limit",
        params,
    )
    return [rows.follow_up_record(row) for row in found]


def follow_up_counts() -> Plan[dict[str, int]]:
    """How many intents are in each status (through ``follow_ups_status``)."""
    found = yield Fetch("SELECT status, count(*) FROM follow_ups GROUP BY status")
    return {status: int(count) for status, count in found}


def release_follow_up(q: Queries, key: str) -> Plan[bool]:
    changed = yield Execute(
        f"UPDATE follow_ups SET status = 'pending', attempts = 0, next_attempt_at = {q.now},"
        f" reconcile_until = NULL, updated_at = {q.now}"
        " WHERE key = :key AND status IN ('held', 'rejected', 'refused')",
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


def follow_up_stats() -> Plan[FollowUpStats]:
    """Through follow_ups_due: the rows of three statuses, not the table."""
    [(pending, held)] = yield Fetch(
        "SELECT count(*) FILTER (WHERE status IN ('pending', 'sending')),"
        " count(*) FILTER (WHERE status = 'held')"
        " FROM follow_ups WHERE status IN ('pending', 'sending', 'held')"
    )
    return FollowUpStats(int(pending), int(held))


def dnc_add(q: Queries, number: str, reason: str | None) -> Plan[None]:
    """Put ``number`` (E.164) on the list; listed already, its reason is replaced."""
    yield Execute(
        f"INSERT INTO do_not_call (number, reason, created_at) VALUES (:number, :reason, {q.now})"
        " ON CONFLICT (number) DO UPDATE SET reason = excluded.reason",
        {"number": number, "reason": reason, "now": time.time()},
    )


def dnc_remove(number: str) -> Plan[bool]:
    changed = yield Execute(
        "DELETE FROM do_not_call WHERE number = :number", {"number": number}
    )
    return bool(changed == 1)


def dnc_list() -> Plan[list[DncEntry]]:
    found = yield Fetch("SELECT number, reason, created_at FROM do_not_call ORDER BY number")
    return [(number, reason, created_at) for number, reason, created_at in found]
