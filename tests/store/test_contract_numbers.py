"""Phone numbers on both backends: the do-not-call list and the guards compare E.164, and
schema version 4 rewrites older rows (merging the duplicates it makes)."""

from __future__ import annotations

import pytest

from receiver.delivery.context import HandlerContext
from receiver.errors import InvalidNumber, MigrationError
from receiver.follow_ups.guards import FollowUpGuards
from receiver.store.records import Finish

AGENT_ID = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"  # a Vocode agent id is a uuid

GUARDS = FollowUpGuards(max_per_number=1, max_depth=2)
WRITTEN = ("+1 (555) 555-0123", "555-555-0123", "(555) 555 0123", "+1.555.555.0123")


async def _ask(store, new_event, n: int, to_number: str, region: str | None = "US") -> str:
    """A handler run (with ``region`` as RECEIVER_DEFAULT_REGION) asks for a call."""
    await store.add_event(new_event(n, handlers=("t.h",)))
    [c] = await store.claim({"t.h": 1}, frozenset(), {"t.h": 60.0})
    ctx = HandlerContext(c.event_id, c.call_id, "t.h", c.attempt, default_region=region)
    asked = ctx.follow_up(to_number=to_number, from_number="+15555550199", agent=AGENT_ID)
    assert await store.finish(Finish(c.id, c.attempt, "done", follow_ups=(asked,)))
    return asked.key


async def test_one_entry_per_number_however_it_is_written(open_store) -> None:
    """Adding one number in four formats lists it once, in E.164; any format removes it."""
    store = await open_store(default_region="US")
    for n, written in enumerate(WRITTEN):
        assert await store.dnc_add(written, reason=f"r{n}") == "+15555550123"
    assert [(number, reason) for number, reason, _ in await store.dnc_list()] == [
        ("+15555550123", "r3")
    ]
    with pytest.raises(InvalidNumber, match="too long"):  # a UK number read as a US one
        await store.dnc_add("020 7946 0018")
    assert await store.dnc_remove("1-555-555-0123")
    assert [number for number, _, _ in await store.dnc_list()] == []


async def test_the_default_region_reads_national_numbers(open_store) -> None:
    """A store whose default region is GB reads a national UK number; +1 numbers still work."""
    store = await open_store(default_region="GB")
    assert await store.dnc_add("020 7946 0018") == "+442079460018"
    assert await store.dnc_add("+1 555 555 0123") == "+15555550123"
    assert sorted(n for n, _, _ in await store.dnc_list()) == ["+15555550123", "+442079460018"]


async def test_an_unreadable_number_is_refused_and_nothing_is_listed(store) -> None:
    """Without a default region a national number is refused, saying what to do."""
    with pytest.raises(InvalidNumber, match="RECEIVER_DEFAULT_REGION"):
        await store.dnc_add("555-555-0123")
    with pytest.raises(InvalidNumber, match="not a phone number"):
        await store.dnc_add("nobody")
    assert await store.dnc_list() == []


async def test_do_not_call_refuses_a_number_written_otherwise(open_store, new_event) -> None:
    """Listed as 555-555-0123, a follow-up to +1 (555) 555-0123 is refused."""
    store = await open_store(default_region="US")
    await store.dnc_add("555-555-0123")
    key = await _ask(store, new_event, 1, "+1 (555) 555-0123")
    claim = await store.claim_follow_ups(10, 60.0, GUARDS)
    assert claim.claimed == [] and claim.refused == [(key, "do_not_call")]


async def test_the_cap_counts_one_number_however_written(open_store, new_event) -> None:
    """Two intents to one number in two formats: the cap of one per day refuses the second."""
    store = await open_store(default_region="US")
    await _ask(store, new_event, 1, "555-555-0123")
    [first] = (await store.claim_follow_ups(10, 60.0, GUARDS)).claimed
    assert await store.complete_follow_up(first.key, 1, "created", vocode_call_id="v1")
    second = await _ask(store, new_event, 2, "+1 555 555 0123")
    assert (await store.claim_follow_ups(10, 60.0, GUARDS)).refused == [(second, "cap")]


async def _seed_version_3(at_version, sql) -> None:
    """A database written before numbers were E.164, with what its normaliser stored."""
    await at_version(3)
    for number, reason, created in (
        ("5555550123", "'asked twice'", 300),
        ("+15555550123", "NULL", 200),
        ("15555550123", "'asked'", 100),
        ("+442079460018", "'uk'", 50),
        ("not-a-number", "'typo'", 10),
    ):
        await sql(f"INSERT INTO do_not_call VALUES ('{number}', {reason}, {created})")
    for key, to, status in (("k1", "5555550199", "pending"), ("k2", "+15555550177", "created")):
        request = f'{{"to_number": "{to}", "from_number": "5555550100", "agent": "a"}}'
        await sql(
            "INSERT INTO follow_ups (key, event_id, handler, call_id, to_number, from_number,"
            f" request, not_before, status, next_attempt_at, created_at, updated_at) VALUES"
            f" ('{key}', 'e', 'h', 'c', '{to}', '5555550100', '{request}', 0, '{status}', 0, 0, 0)"
        )


async def test_version_4_rewrites_numbers_and_merges_duplicates(
    at_version, open_store, sql
) -> None:
    """Upgraded with RECEIVER_DEFAULT_REGION=US: three spellings of one number become one
    entry with the earliest time and every reason; intents and their bodies are E.164."""
    await _seed_version_3(at_version, sql)
    store = await open_store(default_region="US")
    assert (await store.schema_state()).current >= 4
    listed = await sql("SELECT number, reason, created_at FROM do_not_call ORDER BY number")
    assert listed == [
        ("+15555550123", "asked; asked twice", 100),
        ("+442079460018", "uk", 50),
        ("not-a-number", "typo", 10),  # unreadable: kept as it was, removable as written
    ]
    rows = await sql("SELECT key, to_number, from_number FROM follow_ups ORDER BY key")
    assert rows == [("k1", "+15555550199", "+15555550100"), ("k2", "+15555550177", "+15555550100")]
    [k1] = [r for r in await store.list_follow_ups() if r.key == "k1"]
    assert (k1.request["to_number"], k1.request["from_number"]) == ("+15555550199", "+15555550100")
    assert await store.dnc_remove("not-a-number")


async def test_version_4_without_a_region_stops_and_changes_nothing(
    at_version, open_store, sql
) -> None:
    """Numbers without a country code and no default region: the migration stops, says to set
    RECEIVER_DEFAULT_REGION, and leaves the database at version 3, rows untouched."""
    await _seed_version_3(at_version, sql)
    before = await sql("SELECT number, reason, created_at FROM do_not_call ORDER BY number")
    with pytest.raises(MigrationError, match="RECEIVER_DEFAULT_REGION") as caught:
        await open_store()
    assert "2 do-not-call numbers and 2 follow-up numbers" in str(caught.value)
    assert await sql("SELECT max(version) FROM schema_version") == [(3,)]
    assert await sql("SELECT number, reason, created_at FROM do_not_call ORDER BY number") == before
