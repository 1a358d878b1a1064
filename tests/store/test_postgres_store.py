"""What only the PostgreSQL store does: NOTIFY between processes, a listener that reconnects,
URL selection, the pool size setting, and a clear refusal when the schema does not exist."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from receiver.errors import MigrationError
from receiver.settings import load_settings
from receiver.store import create_store
from receiver.store.postgres.store import LISTENER_NAME, PostgresStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def backend() -> str:
    """These tests are for PostgreSQL only."""
    return "postgres"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_database_url_selects_postgres(scheme: str) -> None:
    """Both URL spellings select the PostgreSQL store, with the pool size setting."""
    settings = load_settings(database_url=f"{scheme}://u@db:5432/r", database_pool_size=7)
    store = create_store(settings)
    assert isinstance(store, PostgresStore)
    assert store._pool_size == 7


async def test_a_commit_in_another_process_wakes_this_one(store, open_store, new_event) -> None:
    """Events stored through one store wake the workers of another (LISTEN/NOTIFY)."""
    other = await open_store()
    await asyncio.wait_for(other._listener.listening.wait(), 10)
    woken = asyncio.Event()
    other.on_commit.append(woken.set)
    await store.add_event(new_event(1, handlers=("h",)))
    await asyncio.wait_for(woken.wait(), 10)


async def test_the_listener_reconnects(store, open_store, new_event, store_url) -> None:
    """When its LISTEN connection is killed, a store listens again and wakes its workers."""
    other = await open_store()
    other._listener._retry = 0.05
    await asyncio.wait_for(other._listener.listening.wait(), 10)
    conn = await asyncpg.connect(store_url)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND pid != pg_backend_pid()",
            LISTENER_NAME,
        )
    finally:
        await conn.close()
    assert killed >= 1
    for _ in range(200):  # bounded wait until the loss is noticed
        if not other._listener.listening.is_set():
            break
        await asyncio.sleep(0.05)
    await asyncio.wait_for(other._listener.listening.wait(), 10)
    woken = asyncio.Event()
    other.on_commit.append(woken.set)
    await store.add_event(new_event(1, handlers=("h",)))
    await asyncio.wait_for(woken.wait(), 10)


async def test_a_missing_schema_is_named(store_url) -> None:
    """A search_path naming a schema that does not exist stops start-up with a clear error."""
    parts = urlsplit(store_url)
    url = urlunsplit(parts._replace(query="search_path=no_such_schema"))
    store = create_store(load_settings(database_url=url))
    try:
        with pytest.raises(MigrationError, match="create the search_path's schema"):
            await store.open()
    finally:
        await store.close()


async def test_an_unreachable_server_is_a_store_error(unused_tcp_port: int) -> None:
    """No server at the URL: opening raises StoreError (the process reports it and stops)."""
    from receiver.errors import StoreError

    store = create_store(
        load_settings(database_url=f"postgresql://u@127.0.0.1:{unused_tcp_port}/none")
    )
    with pytest.raises(StoreError, match="PostgreSQL"):
        await store.open()
    await store.close()


async def test_the_store_recovers_when_its_connections_are_killed(
    store, new_event, store_url
) -> None:
    """Connections killed under the pool (a failover, a restart): writes fail with StoreError
    (intake answers 503, Vocode retries) and then succeed again on new connections."""
    from receiver.errors import StoreError

    await store.add_event(new_event(1))
    conn = await asyncpg.connect(store_url)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid != pg_backend_pid()"
        )
    finally:
        await conn.close()
    failures = 0
    for n in range(2, 12):
        try:
            await store.add_event(new_event(n))
            break
        except StoreError:
            failures += 1
    assert failures < 10
    assert await store.count_events() == 2


def _rows_read(plan: dict) -> int:
    """Rows that the plan's scans of ``deliveries`` produced or filtered out, all loops."""
    read = 0
    if plan.get("Relation Name") == "deliveries":
        loops = plan.get("Actual Loops", 1)
        read += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * loops
    return read + sum(_rows_read(child) for child in plan.get("Plans", []))


async def test_an_ordered_claim_reads_one_row_per_call_not_the_backlog(
    store, new_event, store_url
) -> None:
    """While every call's head is running, a claim reads about one row per call, however many
    events wait behind the heads (a skip scan)."""
    from receiver.store.postgres.claims import _CLAIM

    calls, backlog = 100, 40
    for first in range(0, calls * backlog, 500):  # stored in batches, as under load
        await asyncio.gather(*(
            store.add_event(new_event(n, call_id=f"c{n % calls:03d}", handlers=("h",)))
            for n in range(first, first + 500)
        ))  # fmt: skip
    assert len(await store.claim({"h": 500}, frozenset({"h"}), {"h": 60.0})) == calls
    conn = await asyncpg.connect(store_url)
    try:
        explained = conn.transaction()
        await explained.start()
        [row] = await conn.fetch(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + _CLAIM, ["h"], [50], [True], [60.0], None, [""]
        )
        await explained.rollback()  # the explained run claims nothing
    finally:
        await conn.close()
    read = _rows_read(json.loads(row[0])[0]["Plan"])
    assert read <= 2 * calls, read  # of the 4,000 waiting


def _loops_over_input(plan: dict) -> int:
    """The most times a node of ``plan`` ran over the finish's input arrays."""
    here = plan.get("Actual Loops", 1) if plan.get("Node Type") == "Function Scan" else 0
    return max([here, *(_loops_over_input(child) for child in plan.get("Plans", []))])


async def test_a_finish_reads_its_input_once(store, new_event, store_url) -> None:
    """A batch of finishes reads its input arrays once, not once per row (a nested loop over
    the input costs the square of the batch)."""
    from receiver.store.postgres.claims import _FINISH

    for first in range(0, 2000, 500):  # enough rows for the planner to pick an index
        await asyncio.gather(*(
            store.add_event(new_event(n, call_id=f"c{n}", handlers=("h",)))
            for n in range(first, first + 500)
        ))  # fmt: skip
    conn = await asyncpg.connect(store_url)
    try:
        await conn.execute("ANALYZE deliveries")  # as the store does as its tables grow
        claimed = await store.claim({"h": 64}, frozenset(), {"h": 60.0})
        assert len(claimed) == 64
        # the generic plan: the one a statement run thousands of times gets
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute("PREPARE finish AS " + _FINISH)
        ids = ",".join(str(c.id) for c in claimed)
        attempts = ",".join(str(c.attempt) for c in claimed)
        arrays = [ids, attempts, ",".join(["done"] * 64), ",".join(["0"] * 64), ""]
        literals = ", ".join(f"'{{{a}}}'" for a in arrays + [""] * 11)  # no follow-ups
        explained = conn.transaction()
        await explained.start()
        [row] = await conn.fetch(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE finish({literals})")
        await explained.rollback()  # the explained run records nothing
    finally:
        await conn.close()
    plan = json.loads(row[0])[0]["Plan"]
    assert _loops_over_input(plan) <= 1


async def test_the_store_analyses_its_tables_as_they_grow(store, new_event, store_url) -> None:
    """Once a process has written ANALYZE_FIRST_AT rows the tables get statistics (and cached
    plans are made again), long before autovacuum would look at a new database."""
    from receiver.store.postgres.store import ANALYZE_FIRST_AT

    conn = await asyncpg.connect(store_url)
    reltuples = "SELECT reltuples FROM pg_class WHERE oid = 'deliveries'::regclass"
    try:
        assert await conn.fetchval(reltuples) < 0  # never analysed
        events = ANALYZE_FIRST_AT // 2  # an event and its one delivery: two rows
        await asyncio.gather(
            *(store.add_event(new_event(n, handlers=("h",))) for n in range(events))
        )
        await store._analyzing
        assert await conn.fetchval(reltuples) == events
    finally:
        await conn.close()


async def test_an_ordered_claim_looks_past_heads_another_claim_holds(
    store, new_event, store_url
) -> None:
    """Heads locked by a claim in flight elsewhere do not use up this claim's walk: it goes
    on to the next due heads instead of coming back empty."""
    for n, call in enumerate(["a", "b", "c", "d"]):
        await store.add_event(new_event(n, call_id=call, handlers=("h",)))
    other = await asyncpg.connect(store_url)
    try:
        in_flight = other.transaction()
        await in_flight.start()
        await other.execute(
            "SELECT id FROM deliveries WHERE call_id IN ('a', 'b') FOR UPDATE"
        )  # as a claim in another process holds them before it commits
        [claimed] = await store.claim({"h": 1}, frozenset({"h"}), {"h": 60.0})
        assert claimed.call_id in ("c", "d")
        await in_flight.rollback()
    finally:
        await other.close()


async def test_events_of_one_call_commit_in_the_order_of_their_numbers(
    store, new_event, store_url
) -> None:
    """A batch holding a later event of a call waits for one holding an earlier event of it
    to commit, so no worker ever sees the later event as the call's head in between."""
    from receiver.store.postgres.intake import insert_events

    first = await asyncpg.connect(store_url)
    watch = await asyncpg.connect(store_url)
    try:
        pending = first.transaction()
        await pending.start()  # an earlier event's batch, numbered but not yet committed
        await insert_events(first, [new_event(1, call_id="c1", handlers=("h",))])
        later = asyncio.create_task(store.add_event(new_event(2, call_id="c1", handlers=("h",))))
        for _ in range(200):  # until the later batch waits for the call's lock (or is done)
            waiting = await watch.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
            if waiting or later.done():
                break
            await asyncio.sleep(0.05)
        assert await store.claim({"h": 5}, frozenset({"h"}), {"h": 60.0}) == []
        await pending.commit()
        await later
        [head] = await store.claim({"h": 5}, frozenset({"h"}), {"h": 60.0})
        assert head.event_id == new_event(1).id
    finally:
        await first.close()
        await watch.close()
