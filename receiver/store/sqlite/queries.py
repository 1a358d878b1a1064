"""The SQL of the SQLite dialect (see :class:`receiver.store.queries.Queries`).

One writer thread serialises every write (``BEGIN IMMEDIATE``), so nothing needs a lock of
its own; lists are passed as JSON arrays and read with ``json_each``; the clock is the
caller's (``:now``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from receiver.store.plan import Version
from receiver.store.sqlite.schema import VERSIONS

_ACTIVE = "('pending', 'running')"
_PAIRS = """(SELECT i.value AS id, a.value AS attempt FROM json_each(:ids) i
    JOIN json_each(:attempts) a ON a.key = i.key)"""


class SQLiteQueries:
    versions: Sequence[Version] = VERSIONS
    now = ":now"

    current_schema = "SELECT 'main'"
    has_schema_version = (
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    )
    create_schema_version = (
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL)"
    )
    lock_schema = "SELECT :schema"  # the writer's BEGIN IMMEDIATE holds the database

    delivery_columns = """d.id, d.event_id, e.type, d.handler, d.call_id, d.status, d.attempts,
        d.next_attempt_at, d.lease_until, d.last_error, d.side_effects, d.created_at,
        d.updated_at"""
    delivery_status: Mapping[str, str] = {}
    delivery_stats = f"""
        SELECT handler, count(*) FILTER (WHERE status IN {_ACTIVE}),
            :now - min(created_at) FILTER (WHERE status IN {_ACTIVE}),
            count(*) FILTER (WHERE status = 'dead')
        FROM deliveries WHERE status IN ('pending', 'running', 'dead') GROUP BY handler"""
    release = f"""
        UPDATE deliveries SET status = 'pending', attempts = attempts - 1, lease_until = NULL,
            next_attempt_at = :now, updated_at = :now
        WHERE status = 'running' AND (id, attempts) IN {_PAIRS}"""
    requeue = """
        UPDATE deliveries SET status = 'pending', attempts = 0, lease_until = NULL,
            next_attempt_at = :now, side_effects = :side_effects, updated_at = :now
        WHERE id IN (SELECT value FROM json_each(:ids)) AND status != 'running'"""

    follow_ups_due = """
        SELECT key, attempts, to_number, request, depth, reconcile, status, sent_at,
            trace_context, reconcile_until
        FROM follow_ups WHERE status IN ('pending', 'sending') AND next_attempt_at <= :now
        ORDER BY next_attempt_at LIMIT :limit"""
    lock_numbers = "SELECT :numbers"

    calls_due = """
        SELECT call_id, lookups, last_seen_at, stage FROM calls
        WHERE status = 'open' AND last_seen_at <= :now - :after
            AND coalesce(next_check_at, 0) <= :now AND coalesce(lease_until, 0) <= :now
        ORDER BY last_seen_at LIMIT :limit"""
    lock_call = "SELECT :call_id"

    def any_of(self, column: str, param: str, sql_type: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(:{param}))"


QUERIES = SQLiteQueries()
