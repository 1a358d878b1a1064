"""What opening a database does: schema versions, applied in order, once."""

from __future__ import annotations

import time

from receiver.errors import MigrationError
from receiver.store.plan import Execute, Fetch, Plan, Script
from receiver.store.queries import Queries
from receiver.store.records import SchemaState


def ping() -> Plan[None]:
    yield Fetch("SELECT 1")


def probe_write(q: Queries) -> Plan[None]:
    """Rewrite the one row of ``write_probe``: committing it proves the store can commit."""
    yield Execute(
        f"INSERT INTO write_probe (id, at) VALUES (1, {q.now})"
        " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        {"now": time.time()},
    )


# schema --------------------------------------------------------------------------------------


def schema_state(q: Queries) -> Plan[SchemaState]:
    [(exists,)] = yield Fetch(q.has_schema_version)
    current = 0
    if exists:
        [(current,)] = yield Fetch("SELECT coalesce(max(version), 0) FROM schema_version")
    latest = len(q.versions)
    pending = [(n, q.versions[n - 1].title) for n in range(current + 1, latest + 1)]
    return SchemaState(current, latest, pending=pending)


def check_current(state: SchemaState) -> None:
    """Raise :class:`MigrationError` unless the database is at the version this code knows."""
    if state.current < state.latest:
        where = f"is at schema version {state.current}"
        if state.current == 0:
            where = "has no receiver schema"
        raise MigrationError(
            f"the database {where}; this version of vocode-receiver needs version "
            f"{state.latest}: run `receiver migrate` (or start `receiver serve`), "
            "then try again"
        )
    if state.current > state.latest:
        raise MigrationError(
            f"the database is at schema version {state.current}, newer than this version "
            f"of vocode-receiver knows ({state.latest}): upgrade vocode-receiver"
        )


def migrate(q: Queries, region: str | None = None) -> Plan[SchemaState]:
    """Apply the pending versions in order, under the dialect's lock: processes starting
    together apply each version once. ``region`` reads numbers without a country code."""
    [(schema,)] = yield Fetch(q.current_schema)
    if schema is None:
        raise MigrationError("no schema to create tables in: create the search_path's schema")
    yield Execute(q.lock_schema, {"schema": schema})
    yield Execute(q.create_schema_version)
    state = yield from schema_state(q)
    if state.current > state.latest:
        check_current(state)
    applied = []
    for version in range(state.current + 1, state.latest + 1):
        step = q.versions[version - 1]
        try:
            if step.script:
                yield Script(step.script)
            if step.rewrite is not None:
                yield from step.rewrite(region)
        except MigrationError as exc:
            raise MigrationError(f"schema version {version}: {exc}") from exc
        except Exception as exc:
            raise MigrationError(f"schema version {version} failed: {exc}") from exc
        yield Execute(
            f"INSERT INTO schema_version VALUES (:version, {q.now})",
            {"version": version, "now": time.time()},
        )
        applied.append(version)
    return SchemaState(state.latest, state.latest, applied)
