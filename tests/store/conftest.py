"""The store contract suite: every test in this directory runs against SQLite and PostgreSQL.

``backend`` is the parameter; ``store``, ``open_store``, ``settings_factory`` and ``sql`` all
follow it, so a test written once checks both stores the same way.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from receiver.settings import Settings, load_settings
from receiver.store import Store, create_store
from receiver.store.records import NewEvent

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: ``sqlite`` or ``postgres``."""
    return request.param


@pytest.fixture
def store_url(backend: str, db_path: Path, request: pytest.FixtureRequest) -> str:
    """``RECEIVER_DATABASE_URL`` for this test: a fresh SQLite file or PostgreSQL schema."""
    if backend == "sqlite":
        return f"sqlite:///{db_path}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def open_store(store_url: str) -> AsyncIterator[Callable[..., Awaitable[Store]]]:
    """``await open_store(**settings) -> Store``: another opened store on the same database,
    as another process would have; every one is closed when the test ends."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_one(**overrides: Any) -> Store:
            store = create_store(load_settings(database_url=store_url, **overrides))
            stack.push_async_callback(store.close)  # also when open fails half-way
            await store.open()
            return store

        yield open_one


@pytest.fixture
async def store(open_store: Callable[..., Awaitable[Store]]) -> Store:
    """An opened store of the backend under test."""
    return await open_store()


@pytest.fixture
def settings_factory(token: str, store_url: str) -> Callable[..., Settings]:
    """As the top-level one, on the backend under test."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"tokens": token, "database_url": store_url}
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
def sql(store_url: str) -> Callable[[str], Awaitable[list[tuple[Any, ...]]]]:
    """``await sql(query) -> rows`` on a connection of its own (what another process sees),
    committed at once. Write it in the SQL both engines speak, without parameters."""

    async def run(query: str) -> list[tuple[Any, ...]]:
        if store_url.startswith("sqlite:///"):
            conn = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
            try:
                return [tuple(row) for row in conn.execute(query).fetchall()]
            finally:
                conn.close()
        pg = await asyncpg.connect(store_url)
        try:
            return [tuple(row) for row in await pg.fetch(query)]
        finally:
            await pg.close()

    return run


@pytest.fixture
def at_version(store_url: str) -> Callable[[int], Awaitable[None]]:
    """``await at_version(n)``: create this test's database at schema version ``n`` (each
    version's script, as a release that stopped there applied it), without opening a store.
    Data rewrites are not run: there is no data yet."""

    async def create(n: int) -> None:
        from receiver.store.postgres.schema import VERSIONS as POSTGRES
        from receiver.store.sqlite.schema import VERSIONS as SQLITE

        sqlite = store_url.startswith("sqlite:///")
        create_table = (
            "CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at float8)"
        )
        statements = [create_table.replace("float8", "REAL") if sqlite else create_table]
        for number, version in enumerate((SQLITE if sqlite else POSTGRES)[:n], start=1):
            statements += [s for s in version.script.split(";") if s.strip()]
            statements.append(f"INSERT INTO schema_version VALUES ({number}, 0)")
        if sqlite:
            conn = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
            try:
                for statement in statements:
                    conn.execute(statement)
            finally:
                conn.close()
            return
        pg = await asyncpg.connect(store_url)
        try:
            for statement in statements:
                await pg.execute(statement)
        finally:
            await pg.close()

    return create


@pytest.fixture
def new_event() -> Callable[..., NewEvent]:
    """``make(n, **fields) -> NewEvent``: event number ``n`` with its own id and dedup key."""

    def make(n: int = 1, **fields: Any) -> NewEvent:
        call_id = fields.get("call_id", f"call-{n}")
        envelope = {"type": "event_message", "call_id": call_id, "payload": {"text": f"#{n}"}}
        values: dict[str, Any] = {
            "id": f"evt_{n:08d}",
            "dedup_key": f"s:{n}",
            "type": "event_message",
            "call_id": call_id,
            "received_at": 1_700_000_000.0 + n,
            "method": "POST",
            "headers": json.dumps({"user-agent": "test"}),
            "envelope": json.dumps(envelope),
            "raw": json.dumps(envelope).encode(),
        }
        values.update(fields)
        return NewEvent(**values)

    return make


@pytest.fixture
def count_commits(backend: str, store: Store, sql: Any) -> Callable[[], Awaitable[int]]:
    """``await count_commits() -> int``: the transactions that stored this test's events.

    PostgreSQL: the distinct ``xmin`` of the event rows. SQLite: the store's own commits after
    this fixture was set up (its ``on_commit`` runs once per committed batch)."""
    if backend == "postgres":

        async def from_rows() -> int:
            [(count,)] = await sql("SELECT count(DISTINCT xmin::text) FROM events")
            return count

        return from_rows
    commits: list[int] = []
    store.on_commit.append(lambda: commits.append(1))

    async def counted() -> int:
        return len(commits)

    return counted
