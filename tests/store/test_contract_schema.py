"""Schema versions on both backends: applied at open, once, in order, and never backwards."""

from __future__ import annotations

import asyncio

import pytest

from receiver.errors import MigrationError
from receiver.store.postgres.schema import VERSIONS as POSTGRES
from receiver.store.sqlite.schema import VERSIONS as SQLITE


def test_both_backends_know_the_same_versions() -> None:
    """SQLite and PostgreSQL have one schema version each for the same changes."""
    assert len(SQLITE) == len(POSTGRES) >= 1


async def test_open_applies_the_latest_schema(store, sql) -> None:
    """Opening a fresh database creates every table at the latest schema version."""
    state = await store.schema_state()
    assert state.current == state.latest == len(SQLITE)
    for table in ("events", "deliveries", "follow_ups", "do_not_call"):
        assert await sql(f"SELECT count(*) FROM {table}") == [(0,)]


async def test_reopening_applies_nothing_twice(store, open_store, sql) -> None:
    """Migrating a database that is up to date applies no version again."""
    assert (await store.migrate()).applied == []
    await open_store()
    versions = await sql("SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, len(SQLITE) + 1))


async def test_processes_starting_together_apply_each_version_once(open_store, sql) -> None:
    """Four stores opening one fresh database at once: every version is applied exactly once."""
    stores = await asyncio.gather(*(open_store() for _ in range(4)))
    versions = await sql("SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, len(SQLITE) + 1))
    for store in stores:
        state = await store.schema_state()
        assert state.current == state.latest


async def test_newer_schema_refuses_to_open(store, open_store, sql) -> None:
    """A database at a version newer than the code raises MigrationError on open."""
    newer = len(SQLITE) + 1
    await sql(f"INSERT INTO schema_version VALUES ({newer}, 0)")
    with pytest.raises(MigrationError, match=f"schema version {newer}"):
        await open_store()
