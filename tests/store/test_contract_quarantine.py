"""Quarantined events on both backends: kept apart, listed, released once, never purged."""

from __future__ import annotations

import asyncio
import json
import time

QUARANTINE = json.dumps(
    {"version": "0.1.0", "errors": [{"loc": ["payload", "timestamp"], "msg": "bad", "type": "x"}]}
)
LATER = json.dumps({"type": "event_message", "call_id": "call-1", "payload": {"text": "#1"}})


async def test_a_quarantined_event_is_stored_apart_without_deliveries(store, new_event, sql):
    """It reads back with its errors, is listed among the quarantined, and has no delivery."""
    await store.add_event(new_event(1, quarantine=QUARANTINE))
    await store.add_event(new_event(2, handlers=("a",)))
    record = await store.get_event("evt_00000001")
    assert record.quarantined and record.quarantine == json.loads(QUARANTINE)
    assert record.released_at is None
    assert not (await store.get_event("evt_00000002")).quarantined
    assert [e.id for e in await store.list_events(quarantined=True)] == ["evt_00000001"]
    assert await sql("SELECT event_id FROM deliveries") == [("evt_00000002",)]


async def test_release_creates_the_deliveries_once(store, new_event, sql) -> None:
    """Released: the new envelope, key and one delivery per handler; a second release: nothing."""
    await store.add_event(new_event(1, quarantine=QUARANTINE))
    first = await store.release_quarantined("evt_00000001", LATER, "s:new", ("a", "b"))
    again = await store.release_quarantined("evt_00000001", LATER, "s:new", ("a", "b"))
    assert (first.outcome, first.deliveries) == ("released", 2)
    assert again.outcome == "not_quarantined"
    found = await sql("SELECT handler, status FROM deliveries ORDER BY handler")
    assert found == [("a", "pending"), ("b", "pending")]
    record = await store.get_event("evt_00000001")
    assert not record.quarantined and record.released_at is not None
    assert record.quarantine == json.loads(QUARANTINE)  # kept: what was wrong, for the record
    assert (record.envelope, record.dedup_key) == (json.loads(LATER), "s:new")
    assert await store.list_events(quarantined=True) == []


async def test_concurrent_releases_release_once(store, open_store, new_event, sql) -> None:
    """Two stores (two reparses) releasing the same event at once: one delivery per handler."""
    other = await open_store()
    await store.add_event(new_event(1, quarantine=QUARANTINE))
    results = await asyncio.gather(
        *(
            s.release_quarantined("evt_00000001", LATER, "s:new", ("a",))
            for s in (store, other, store, other)
        )
    )
    assert sorted(r.outcome for r in results) == ["not_quarantined"] * 3 + ["released"]
    assert await sql("SELECT count(*) FROM deliveries") == [(1,)]


async def test_release_of_a_duplicate_creates_nothing(store, new_event, sql) -> None:
    """When the new reading's key is another event's, it is released as that one's duplicate."""
    await store.add_event(new_event(1, quarantine=QUARANTINE))
    await store.add_event(new_event(2, handlers=("a",)))
    released = await store.release_quarantined("evt_00000001", LATER, "s:2", ("a",))
    assert (released.outcome, released.duplicate_of) == ("duplicate", "evt_00000002")
    assert await sql("SELECT event_id FROM deliveries") == [("evt_00000002",)]
    assert (await store.get_event("evt_00000001")).dedup_key == "s:1"
    assert await store.list_events(quarantined=True) == []


async def test_release_of_an_event_not_quarantined_does_nothing(store, new_event, sql) -> None:
    """An event that was never quarantined, or an unknown id, is left alone."""
    await store.add_event(new_event(1, handlers=("a",)))
    assert (await store.release_quarantined("evt_00000001", LATER, "s:9", ("b",))).outcome == (
        "not_quarantined"
    )
    assert (await store.release_quarantined("evt_nope", LATER, "s:9", ("b",))).outcome == (
        "not_quarantined"
    )
    assert await sql("SELECT handler FROM deliveries") == [("a",)]


async def test_update_quarantine_only_while_quarantined(store, new_event) -> None:
    """New errors replace the old ones while quarantined; a released event keeps its record."""
    await store.add_event(new_event(1, quarantine=QUARANTINE))
    newer = json.dumps({"version": "0.2.0", "errors": []})
    assert await store.update_quarantine("evt_00000001", newer)
    assert (await store.get_event("evt_00000001")).quarantine["version"] == "0.2.0"
    await store.release_quarantined("evt_00000001", LATER, "s:new", ())
    assert not await store.update_quarantine("evt_00000001", QUARANTINE)
    assert (await store.get_event("evt_00000001")).quarantine["version"] == "0.2.0"


async def test_quarantined_events_page_newest_first(store, new_event) -> None:
    """before_seq pages through the quarantined events, newest first."""
    for n in range(1, 6):
        await store.add_event(new_event(n, quarantine=QUARANTINE if n != 3 else None))
    first = await store.list_events(quarantined=True, limit=2)
    rest = await store.list_events(quarantined=True, limit=2, before_seq=first[-1].seq)
    last = await store.list_events(quarantined=True, limit=2, before_seq=rest[-1].seq)
    assert [e.id[-1] for e in first + rest + last] == ["5", "4", "2", "1"]


async def test_purge_keeps_quarantined_events(store, new_event) -> None:
    """Retention never removes an event still in quarantine; a released one goes as others do."""
    await store.add_event(new_event(1, quarantine=QUARANTINE))
    await store.add_event(new_event(2, quarantine=QUARANTINE))
    await store.add_event(new_event(3))
    await store.release_quarantined("evt_00000002", LATER, "s:new", ())
    purged = await store.purge(time.time() + 60)
    assert purged.events == 2
    assert [e.id for e in await store.list_events()] == ["evt_00000001"]
