"""Events on both backends: round trip, dedup by the database, group commit, durability."""

from __future__ import annotations

import asyncio
import json

import pytest

from receiver.errors import StoreError


async def test_event_round_trip(store, new_event) -> None:
    """An added event reads back with the same raw bytes, envelope, headers and fields."""
    event = new_event(1, raw=b'{"x":  "\xc3\xa9"}')
    stored = await store.add_event(event)
    assert (stored.id, stored.duplicate) == (event.id, False)
    record = await store.get_event(event.id)
    assert record.raw == b'{"x":  "\xc3\xa9"}'
    assert record.envelope == json.loads(event.envelope)
    assert record.headers == {"user-agent": "test"}
    assert (record.type, record.call_id, record.received_at, record.method) == (
        event.type,
        event.call_id,
        event.received_at,
        event.method,
    )


async def test_unknown_id_reads_none(store) -> None:
    """Asking for an id that was never stored answers None."""
    assert await store.get_event("evt_missing") is None


async def test_same_dedup_key_stores_one_row(store, new_event) -> None:
    """A second event with a known dedup key is not stored and answers the first id."""
    first = await store.add_event(new_event(1))
    second = await store.add_event(new_event(2, dedup_key=new_event(1).dedup_key))
    assert (second.id, second.duplicate) == (first.id, True)
    assert await store.count_events() == 1


async def test_concurrent_duplicates_in_one_batch(store, new_event) -> None:
    """Duplicates submitted together (one transaction) still store one row; all learn its id."""
    results = await asyncio.gather(
        *(store.add_event(new_event(n, dedup_key="s:same")) for n in range(1, 21))
    )
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.id for r in results}) == 1
    assert await store.count_events() == 1


async def test_concurrent_duplicates_across_stores(store, open_store, new_event) -> None:
    """Two stores (two processes) adding the same keys at once: the database keeps one of each."""
    other = await open_store()
    events = [new_event(n, dedup_key=f"s:{n % 10}") for n in range(1, 61)]
    results = await asyncio.gather(
        *((store if n % 2 else other).add_event(event) for n, event in enumerate(events))
    )
    by_key: dict[str, set[str]] = {}
    for event, result in zip(events, results, strict=True):
        by_key.setdefault(event.dedup_key, set()).add(result.id)
    assert all(len(ids) == 1 for ids in by_key.values())
    assert sum(not r.duplicate for r in results) == 10
    assert await store.count_events() == 10


async def test_deliveries_are_stored_with_the_event(store, sql, new_event) -> None:
    """One pending delivery row per matching handler is written with the event, not twice."""
    await store.add_event(new_event(1, handlers=("crm", "audit")))
    await store.add_event(new_event(2, dedup_key=new_event(1).dedup_key, handlers=("crm",)))
    found = await sql("SELECT event_id, handler, status FROM deliveries ORDER BY handler")
    assert found == [("evt_00000001", "audit", "pending"), ("evt_00000001", "crm", "pending")]


async def test_list_events_newest_first_and_filtered(store, new_event) -> None:
    """Listing gives the newest first, filtered by type and call id, up to the limit."""
    await store.add_event(new_event(1))
    await store.add_event(new_event(2, type="event_recording"))
    await store.add_event(new_event(3, call_id="call-1"))
    assert [e.id for e in await store.list_events()] == [
        "evt_00000003",
        "evt_00000002",
        "evt_00000001",
    ]
    assert [e.id for e in await store.list_events(type="event_recording")] == ["evt_00000002"]
    assert [e.id for e in await store.list_events(call_id="call-1")] == [
        "evt_00000003",
        "evt_00000001",
    ]
    assert [e.id for e in await store.list_events(limit=1)] == ["evt_00000003"]


async def test_events_keep_their_arrival_order(store, new_event) -> None:
    """Events submitted together keep the order they came in (seq orders each call)."""
    await asyncio.gather(*(store.add_event(new_event(n, call_id="c")) for n in range(1, 31)))
    listed = await store.list_events(call_id="c", limit=100)
    assert [e.id for e in reversed(listed)] == [new_event(n).id for n in range(1, 31)]


async def test_added_event_is_durable_before_the_answer(store, sql, new_event) -> None:
    """When add_event returns, another connection already sees the row (it is committed)."""
    event = new_event(1)
    await store.add_event(event)
    assert await sql("SELECT id FROM events") == [(event.id,)]


async def test_concurrent_adds_share_commits(store, new_event, count_commits) -> None:
    """Fifty events added at once are committed in one or two transactions, not fifty."""
    await asyncio.gather(*(store.add_event(new_event(n, handlers=("h",))) for n in range(1, 51)))
    assert await store.count_events() == 50
    assert 1 <= await count_commits() <= 2


async def test_a_failing_event_fails_alone(store, new_event) -> None:
    """An event the database refuses fails on its own; the others of its batch are stored."""
    await store.add_event(new_event(1))
    clash = new_event(2, id=new_event(1).id)  # same id, new dedup key: the id must be unique
    results = await asyncio.gather(
        *(store.add_event(e) for e in (new_event(3), clash, new_event(4))),
        return_exceptions=True,
    )
    assert isinstance(results[1], StoreError)
    assert [r.duplicate for r in (results[0], results[2])] == [False, False]
    assert await store.count_events() == 3


async def test_a_closed_store_refuses_with_store_error(store_url, new_event) -> None:
    """Using a store after close raises StoreError, which intake answers with 503."""
    from receiver.settings import load_settings
    from receiver.store import create_store

    store = create_store(load_settings(database_url=store_url))
    await store.open()
    await store.close()
    with pytest.raises(StoreError):
        await store.add_event(new_event(1))
