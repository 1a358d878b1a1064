"""Retention on both backends: purge removes what is finished and old, keeps the rest."""

from __future__ import annotations

import asyncio
import time

from click.testing import CliRunner

from receiver.cli import main as cli_main
from receiver.settings import load_settings
from receiver.store import create_store
from receiver.store.records import DeliveryFilter, Finish, Purged

LEASE = {"a": 60.0, "b": 60.0}


async def _finish_all(store, handler: str, status: str) -> None:
    for c in await store.claim({handler: 100}, frozenset(), LEASE):
        assert await store.finish(Finish(c.id, c.attempt, status))


async def test_purge_removes_finished_and_keeps_the_rest(store, new_event, sql) -> None:
    """Finished deliveries and events left without any go; dead, pending and new ones stay."""
    await store.add_event(new_event(1, handlers=("a",)))
    await store.add_event(new_event(2, handlers=("a",)))
    await store.add_event(new_event(3))  # no handler matched
    await store.add_event(new_event(4, handlers=("b",)))
    await store.add_event(new_event(5, handlers=("a", "b")))
    await store.add_event(new_event(6, received_at=time.time() + 3600))  # not old enough
    [first, second, both_a] = sorted(
        await store.claim({"a": 10}, frozenset(), LEASE), key=lambda c: c.event_id
    )
    assert await store.finish(Finish(first.id, 1, "done"))
    assert await store.finish(Finish(second.id, 1, "dropped"))
    assert await store.finish(Finish(both_a.id, 1, "done"))
    [dead, _] = sorted(await store.claim({"b": 10}, frozenset(), LEASE), key=lambda c: c.event_id)
    assert await store.finish(Finish(dead.id, 1, "dead"))

    # the deliveries finished just now: a cut-off an hour ago keeps them
    assert await store.purge(time.time() - 3600) == Purged(deliveries=0, events=1)
    assert await store.purge(time.time() + 1) == Purged(deliveries=3, events=2)
    left = await sql("SELECT id FROM events ORDER BY seq")
    assert [i for (i,) in left] == [new_event(n).id for n in (4, 5, 6)]
    rows = await store.list_deliveries(DeliveryFilter())
    assert sorted((r.event_id[-1], r.handler, r.status) for r in rows) == [
        ("4", "b", "dead"),
        ("5", "b", "running"),
    ]
    assert await store.purge(time.time() + 1) == Purged(0, 0)


async def test_purge_works_in_batches(store, new_event) -> None:
    """Many rows are purged whatever the batch size, and nothing newer is touched."""
    for n in range(1, 26):
        await store.add_event(new_event(n, handlers=("a",) if n % 3 else ()))
    await _finish_all(store, "a", "done")
    await store.add_event(new_event(99, received_at=time.time() + 3600))
    assert await store.purge(time.time() + 1, batch_size=2) == Purged(deliveries=17, events=25)
    assert [e.id for e in await store.list_events()] == [new_event(99).id]


async def test_intake_goes_on_while_purging(store, new_event) -> None:
    """An event added while a long purge runs is stored before the purge ends."""
    for n in range(1, 61):
        await store.add_event(new_event(n, handlers=("a",)))
    await _finish_all(store, "a", "done")
    purging = asyncio.create_task(store.purge(time.time() + 1, batch_size=1))
    await asyncio.sleep(0.01)
    stored = await store.add_event(new_event(100, received_at=time.time() + 3600))
    assert not purging.done()
    assert await purging == Purged(deliveries=60, events=60)
    assert [e.id for e in await store.list_events()] == [stored.id]


def test_receiver_purge_command(store_url, new_event) -> None:
    """`receiver purge --older-than 30d` removes what finished before then, and says so."""

    async def seed() -> None:
        store = create_store(load_settings(database_url=store_url))
        await store.open()
        await store.add_event(new_event(1))  # received in 2023, no delivery
        await store.add_event(new_event(2, received_at=time.time()))
        await store.close()

    asyncio.run(seed())
    env = {"RECEIVER_DATABASE_URL": store_url}
    result = CliRunner().invoke(cli_main, ["purge", "--older-than", "30d"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "purged 0 deliveries, 1 events, 0 follow-up intents older than "
    )
    again = CliRunner().invoke(cli_main, ["purge", "--older-than", "30d"], env=env)
    assert again.output.startswith("purged 0 deliveries, 0 events")
    bad = CliRunner().invoke(cli_main, ["purge", "--older-than", "a month"], env=env)
    assert bad.exit_code == 2 and "expected e.g. 2h" in bad.output
