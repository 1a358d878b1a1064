"""Schema versions on PostgreSQL, applied in one transaction under an advisory lock.

The lock is per schema: processes starting together against one database wait for each
other, and the first applies what is missing while the others then find nothing to do.
"""

from __future__ import annotations

import asyncpg

from receiver.errors import MigrationError
from receiver.store.base import SchemaState
from receiver.store.migrations import POSTGRES as MIGRATIONS
from receiver.store.postgres.intake import NOW

_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('receiver.migrate.' || $1, 0))"


async def schema_state(conn: asyncpg.Connection, applied: list[int] | None = None) -> SchemaState:
    current = 0
    if await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
    return SchemaState(current, len(MIGRATIONS), applied or [])


async def migrate(conn: asyncpg.Connection) -> SchemaState:
    """Inside one transaction, under a lock per schema: concurrent starts apply nothing twice."""
    schema = await conn.fetchval("SELECT current_schema()")
    if schema is None:
        raise MigrationError("no schema to create tables in: create the search_path's schema")
    await conn.execute(_SCHEMA_LOCK, schema)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version"
        " (version integer PRIMARY KEY, applied_at double precision NOT NULL)"
    )
    state = await schema_state(conn)
    if state.current > state.latest:
        raise MigrationError(
            f"the database is at schema version {state.current}; "
            f"this version of vocode-receiver knows up to {state.latest}"
        )
    applied = []
    for version in range(state.current + 1, state.latest + 1):
        try:
            await conn.execute(MIGRATIONS[version - 1])
        except asyncpg.PostgresError as exc:
            raise MigrationError(f"schema version {version} failed: {exc}") from exc
        await conn.execute(f"INSERT INTO schema_version VALUES ($1, {NOW})", version)
        applied.append(version)
    return await schema_state(conn, applied)
