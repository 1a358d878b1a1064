"""What opening a database does: schema versions, applied in order, once."""

from __future__ import annotations

import time

from receiver.errors import MigrationError
from receiver.store.plan import Execute, Fetch, Plan, Script
from receiver.store.queries import Queries
from receiver.store.records import SchemaState


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
