"""The SQL of the PostgreSQL dialect (see :class:`receiver.store.queries.Queries`).

Several processes share the database, so what SQLite gets from its single writer comes from
locks here: due intents are locked ``FOR UPDATE SKIP LOCKED``, destination numbers and
schema migrations by transaction-level advisory locks. The clock is the database's. A
running delivery is a pending one with a lease (``store/postgres/claims.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from receiver.store.plan import Version
from receiver.store.postgres.intake import NOW
from receiver.store.postgres.schema import VERSIONS

RUNNING = "(d.status = 'pending' AND d.lease_until IS NOT NULL)"


class PostgresQueries:
    versions: Sequence[Version] = VERSIONS
    now = NOW

    current_schema = "SELECT current_schema()"
    has_schema_version = "SELECT to_regclass('schema_version') IS NOT NULL"
    create_schema_version = (
        "CREATE TABLE IF NOT EXISTS schema_version"
        " (version integer PRIMARY KEY, applied_at double precision NOT NULL)"
    )
    lock_schema = (
        "SELECT pg_advisory_xact_lock(hashtextextended('receiver.migrate.' || :schema, 0))"
    )

    # as the records show it: a leased row is running, and its next attempt is when its lease ends
    delivery_columns = f"""d.id, d.event_id, e.type, d.handler, d.call_id,
        CASE WHEN {RUNNING} THEN 'running' ELSE d.status END,
        d.attempts, CASE WHEN {RUNNING} THEN d.lease_until ELSE d.next_attempt_at END,
        d.lease_until, d.last_error, d.side_effects, d.created_at, d.updated_at"""
    delivery_status: Mapping[str, str] = {
        "running": RUNNING,
        "pending": "(d.status = 'pending' AND d.lease_until IS NULL)",
    }
    delivery_stats = f"""
        SELECT handler, count(*) FILTER (WHERE status = 'pending'),
            {NOW} - min(created_at) FILTER (WHERE status = 'pending'),
            count(*) FILTER (WHERE status = 'dead')
        FROM deliveries WHERE status IN ('pending', 'dead') GROUP BY handler"""
    release = f"""
        UPDATE deliveries d SET attempts = d.attempts - 1, lease_until = NULL, updated_at = {NOW}
        FROM unnest(:ids::bigint[], :attempts::int[]) AS r(id, attempt)
        WHERE d.id = r.id AND d.attempts = r.attempt AND {RUNNING}"""
    requeue = f"""
        UPDATE deliveries d SET status = 'pending', attempts = 0, lease_until = NULL,
            next_attempt_at = {NOW}, side_effects = :side_effects, updated_at = {NOW}
        WHERE d.id = any(:ids::bigint[]) AND NOT {RUNNING}"""

    follow_ups_due = f"""
        SELECT key, attempts, to_number, request, depth, reconcile, status, sent_at,
            trace_context, reconcile_until
        FROM follow_ups WHERE status IN ('pending', 'sending') AND next_attempt_at <= {NOW}
        ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED"""
    # in one order for every sender (sorted), so that two claims cannot deadlock
    lock_numbers = """
        SELECT count(pg_advisory_xact_lock(hashtextextended('receiver.number:' || n, 0)))
        FROM (SELECT n FROM unnest(:numbers::text[]) AS n ORDER BY n OFFSET 0) numbers"""

    # through calls_open; a call's lock is the one intake's batches take (postgres/intake.py)
    calls_due = f"""
        SELECT call_id, lookups, last_seen_at, stage FROM calls
        WHERE status = 'open' AND last_seen_at <= {NOW} - :after
            AND coalesce(next_check_at, 0) <= {NOW} AND coalesce(lease_until, 0) <= {NOW}
        ORDER BY last_seen_at LIMIT :limit FOR UPDATE SKIP LOCKED"""
    lock_call = "SELECT pg_advisory_xact_lock(hashtextextended('receiver.call:' || :call_id, 0))"

    def any_of(self, column: str, param: str, sql_type: str) -> str:
        return f"{column} = any(:{param}::{sql_type}[])"


QUERIES = PostgresQueries()
