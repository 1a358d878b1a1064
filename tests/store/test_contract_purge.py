"""Retention on both backends: purge removes what is finished and old, keeps the rest."""

from __future__ import annotations

import asyncio
import time

import structlog
from click.testing import CliRunner

from receiver.cli import main as cli_main
from receiver.follow_ups.intent import FollowUpRequest
from receiver.retention import Retention
from receiver.service import build_services
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


DAY = 86_400


async def _intents(store, new_event, sql) -> dict[str, str]:
    """One intent per fate, each last changed two days ago unless said: key by fate."""
    keys = {}
    fates = ("created_old", "created_today", "pending", "held", "refused", "cancelled")
    for n, fate in enumerate(fates, start=100):
        await store.add_event(new_event(n, handlers=("f.h",)))
        [c] = await store.claim({"f.h": 1}, frozenset(), {"f.h": 60.0})
        key = f"{c.event_id}/f.h/1"
        asked = FollowUpRequest(key, c.call_id, "+15555550123", "+15555550199", "a", {}, 0.0, {})
        assert await store.finish(Finish(c.id, c.attempt, "done", follow_ups=(asked,)))
        status = fate.removesuffix("_old").removesuffix("_today")
        old = time.time() - 2 * DAY
        sent = "NULL" if status in ("pending", "refused", "cancelled") else old
        if fate == "created_today":
            sent = time.time() - 3600  # counts towards today's cap
        await sql(
            f"UPDATE follow_ups SET status = '{status}', sent_at = {sent}, updated_at = {old},"
            f" next_attempt_at = {old} WHERE key = '{key}'"
        )
        keys[fate] = key
    return keys


async def test_purge_removes_finished_follow_ups_only(store, new_event, sql) -> None:
    """Created (sent over a day ago), refused and cancelled intents go; one sent within the
    cap's day, pending and held ones stay; --keep-follow-ups keeps them all."""
    keys = await _intents(store, new_event, sql)
    kept = await store.purge(time.time() - DAY, follow_ups=False)
    assert kept.follow_ups == 0 and len(await sql("SELECT key FROM follow_ups")) == 6
    purged = await store.purge(time.time() - DAY)
    assert purged.follow_ups == 3
    left = {key for (key,) in await sql("SELECT key FROM follow_ups")}
    assert left == {keys["created_today"], keys["pending"], keys["held"]}


async def test_a_dry_run_counts_what_a_purge_removes(store, new_event, sql) -> None:
    """count_purgeable answers what purge then removes, and changes nothing itself."""
    await _intents(store, new_event, sql)
    for n in range(1, 4):
        await store.add_event(new_event(n, handlers=("a",)))
    await _finish_all(store, "a", "done")
    await store.add_event(new_event(9, handlers=("b",)))  # pending: stays
    before = time.time() + 1
    counted = await store.count_purgeable(before)
    assert counted == await store.count_purgeable(before)
    assert counted == Purged(deliveries=9, events=9, follow_ups=3)
    assert await store.count_purgeable(before, follow_ups=False) == Purged(9, 9, 0)
    assert await store.purge(before) == counted


async def test_purge_reports_its_progress(store, new_event) -> None:
    """progress is told the running totals after each transaction, ending at the result."""
    for n in range(1, 8):
        await store.add_event(new_event(n))
    seen: list[Purged] = []
    result = await store.purge(time.time() + 1, batch_size=2, progress=seen.append)
    # chunks of two events, one that finds the walk ended, then one of intents
    assert [p.events for p in seen] == [2, 4, 6, 7, 7, 7]
    assert seen[-1] == result == Purged(0, 7, 0)


def test_receiver_purge_dry_run_and_keep_follow_ups(store_url, new_event) -> None:
    """`purge --dry-run` says what it would remove and removes nothing; `--keep-follow-ups`
    leaves intents out of the count."""

    async def seed() -> None:
        store = create_store(load_settings(database_url=store_url))
        await store.open()
        await store.add_event(new_event(1))
        await store.close()

    asyncio.run(seed())
    env = {"RECEIVER_DATABASE_URL": store_url}
    dry = CliRunner().invoke(cli_main, ["purge", "--older-than", "1d", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("would purge 0 deliveries, 1 events, 0 follow-up intents older")
    keep = ["purge", "--older-than", "1d", "--keep-follow-ups"]
    result = CliRunner().invoke(cli_main, keep, env=env)
    assert result.output.startswith("purged 0 deliveries, 1 events older than")


async def test_retention_purges_on_its_schedule(store, new_event) -> None:
    """With a retention of one day, the schedule removes an old finished event on each run
    and logs what it removed."""
    await store.add_event(new_event(1))  # received in 2023
    retention = Retention(store, days=1, interval=0.01, first_within=0)
    with structlog.testing.capture_logs() as logs:
        async with retention.running():
            for _ in range(500):  # bounded: until two runs have happened
                if retention.runs >= 2:
                    break
                await asyncio.sleep(0.01)
    assert retention.runs >= 2
    assert await store.count_events() == 0
    purged = [e for e in logs if e["event"] == "retention_purged"]
    assert purged[0]["events"] == 1 and purged[1]["events"] == 0


async def test_services_purge_only_when_retention_is_set(settings_factory) -> None:
    """build_services schedules retention for processes with workers when
    RECEIVER_RETENTION_DAYS is set, and not otherwise."""
    assert build_services(settings_factory()).retention is None
    services = build_services(settings_factory(retention_days=30))
    assert services.retention is not None and services.retention.days == 30
    assert build_services(settings_factory(retention_days=30), workers=False).retention is None
