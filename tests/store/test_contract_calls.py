"""The calls the receiver knows, on both backends: tracked by intake and by follow-ups,
leased for lookups (one holder at a time), their terminal event synthesised once, kept Calls
for enrichment, and forgotten with their last event."""

from __future__ import annotations

import asyncio
import json
import time

from receiver.intake.dedup import terminal_key
from receiver.store.call_records import CallStats, Lookup
from receiver.store.records import Finish, NewEvent

ENDED, DID_NOT_CONNECT = "event_phone_call_ended", "event_phone_call_did_not_connect"


def _terminal(new_event, n: int, call_id: str, kind: str = ENDED, **fields) -> NewEvent:
    envelope = {"type": kind, "call_id": call_id, "payload": {}}
    fields = {"dedup_key": terminal_key(kind, call_id), **fields}
    return new_event(n, call_id=call_id, type=kind, envelope=json.dumps(envelope), **fields)


def _synthesized(new_event, call_id: str, handlers=("t.h",)) -> NewEvent:
    envelope = {
        "type": ENDED, "call_id": call_id, "payload": {"status": "ended"},
        "synthesized": {"source": "GET /v1/calls", "at": 1.0},
    }  # fmt: skip
    return new_event(
        900, call_id=call_id, type=ENDED, dedup_key=terminal_key(ENDED, call_id),
        method="RECONCILE", envelope=json.dumps(envelope), handlers=handlers,
    )  # fmt: skip


async def test_intake_tracks_a_call_and_its_stage(store, new_event) -> None:
    """The first event makes a call known (said once), later ones count and move it on; a
    terminal event ends it once, and an event after it leaves it ended."""
    first = await store.add_event(new_event(1, call_id="c1"))
    second = await store.add_event(new_event(2, call_id="c1"))
    assert (first.new_call, second.new_call) == (True, False)
    call = await store.get_call("c1")
    assert (call.origin, call.status, call.stage, call.events) == ("event", "open", "connected", 2)
    assert call.last_seen_at == new_event(2).received_at and call.terminal_event_id is None
    ended = await store.add_event(_terminal(new_event, 3, "c1"))
    await store.add_event(new_event(4, call_id="c1", received_at=time.time()))
    call = await store.get_call("c1")
    assert (call.status, call.stage, call.events, call.terminal_event_id) == (
        "ended", "ended", 4, ended.id,
    )  # fmt: skip
    assert call.last_event_type == "event_message"
    assert await store.call_stats() == CallStats(open=0)
    duplicate = await store.add_event(new_event(1, call_id="c1", id="evt_again"))
    assert duplicate.duplicate and not duplicate.new_call
    assert (await store.get_call("c1")).events == 4


async def test_claims_take_calls_quiet_long_enough_and_fence_their_lookups(
    store, new_event
) -> None:
    """Only a call last seen ``after`` seconds ago is due; it is leased to one claim; a lookup
    whose lease was taken over records nothing."""
    await store.add_event(new_event(1, call_id="old"))  # received in 2023
    await store.add_event(new_event(2, call_id="new", received_at=time.time()))
    assert await store.call_stats() == CallStats(open=2)
    [item] = await store.claim_calls(10, 60.0, after=600.0)
    assert (item.call_id, item.attempt, item.stage) == ("old", 1, "connected")
    assert await store.claim_calls(10, 60.0, after=600.0) == []
    [(until,)] = [(c.lease_until,) for c in [await store.get_call("old")]]
    assert until > time.time() + 30

    [first] = await store.claim_calls(10, -1.0, after=0.0)  # "new", its lease already over
    [again] = await store.claim_calls(10, 60.0, after=0.0)
    assert (first.call_id, again.call_id, again.attempt) == ("new", "new", 2)
    stale = await store.record_lookup(Lookup("new", first.attempt, "not_found", "404"))
    assert stale.outcome == "lease_lost"
    later = time.time() + 3600
    kept = await store.record_lookup(
        Lookup("new", again.attempt, "open", "in_progress", "connected", next_check_at=later)
    )
    assert (kept.outcome, kept.status) == ("recorded", "open")
    call = await store.get_call("new")
    assert (call.lookups, call.lease_until, call.last_result) == (2, None, "in_progress")
    assert call.next_check_at >= later - 1
    assert [c.call_id for c in await store.claim_calls(10, 60.0, after=0.0)] == []


async def test_a_synthesised_event_is_stored_once_and_the_real_one_is_its_duplicate(
    store, new_event
) -> None:
    """The lookup's event is stored with its deliveries and the Call; the call is
    synthesized; the real event arriving later is a duplicate of it."""
    await store.add_event(new_event(1, call_id="c1"))
    [item] = await store.claim_calls(10, 60.0, after=0.0)
    event = _synthesized(new_event, "c1")
    looked = await store.record_lookup(
        Lookup("c1", item.attempt, "synthesized", "ended", "ended", event=event, snapshot="{}")
    )
    assert (looked.outcome, looked.status, looked.event_id, looked.synthesized) == (
        "recorded", "synthesized", event.id, True,
    )  # fmt: skip
    call = await store.get_call("c1")
    assert (call.status, call.stage, call.terminal_event_id) == ("synthesized", "ended", event.id)
    stored = await store.get_event(event.id)
    assert stored.method == "RECONCILE" and stored.envelope["synthesized"]["source"]
    assert await store.call_snapshot(event.id) == "{}"
    [claimed] = await store.claim({"t.h": 10}, frozenset(), {"t.h": 60.0})
    assert claimed.event_id == event.id and claimed.envelope["synthesized"]
    real = await store.add_event(_terminal(new_event, 2, "c1", handlers=("t.h",)))
    assert (real.id, real.duplicate) == (event.id, True)
    assert await store.claim({"t.h": 10}, frozenset(), {"t.h": 60.0}) == []


async def test_nothing_is_made_when_the_call_has_its_terminal_event(store, new_event, sql) -> None:
    """A terminal event stored before the call was tracked (another key) is the answer: the
    call is reconciled and nothing is stored; one that came during the lookup ends it."""
    await store.add_event(_terminal(new_event, 1, "c1", dedup_key="s:old-key"))
    await sql("UPDATE calls SET status = 'open'")  # as a call tracked after its end was stored
    [item] = await store.claim_calls(10, 60.0, after=0.0)
    looked = await store.record_lookup(
        Lookup("c1", item.attempt, "synthesized", "ended", event=_synthesized(new_event, "c1"))
    )
    assert (looked.status, looked.event_id, looked.synthesized) == (
        "reconciled", new_event(1).id, False,
    )  # fmt: skip
    assert await store.count_events() == 1

    await store.add_event(new_event(2, call_id="c2"))
    [item] = await store.claim_calls(10, 60.0, after=0.0)
    await store.add_event(_terminal(new_event, 3, "c2"))  # the real one, while looking
    event = _synthesized(new_event, "c2")
    looked = await store.record_lookup(
        Lookup("c2", item.attempt, "synthesized", "ended", event=event)
    )
    assert (looked.outcome, looked.status, looked.synthesized) == ("recorded", "ended", False)
    assert await store.get_event(event.id) is None


async def test_a_call_a_follow_up_created_is_tracked_from_its_creation(store, new_event) -> None:
    """Recording an intent created tracks its Vocode call (origin follow_up, stage created);
    its first event does not count it as new."""
    await store.add_event(new_event(1, call_id="parent", handlers=("t.h",)))
    [c] = await store.claim({"t.h": 1}, frozenset(), {"t.h": 60.0})
    from receiver.follow_ups.intent import FollowUpRequest

    request = FollowUpRequest(
        f"{c.event_id}/t.h/1", "parent", "+15555550123", "+15555550199",
        "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b", {}, time.time(), {},
    )  # fmt: skip
    assert await store.finish(Finish(c.id, c.attempt, "done", follow_ups=(request,)))
    guards = type("G", (), {"window_seconds": 86400.0, "refusal": lambda *a, **k: None})()
    [intent] = (await store.claim_follow_ups(1, 60.0, guards)).claimed
    assert await store.complete_follow_up(intent.key, 1, "created", vocode_call_id="v-1")
    call = await store.get_call("v-1")
    assert (call.origin, call.status, call.stage) == ("follow_up", "open", "created")
    assert call.events == 0
    first = await store.add_event(new_event(2, call_id="v-1"))
    assert not first.new_call and (await store.get_call("v-1")).stage == "connected"


async def test_two_stores_never_hold_one_call(open_store, new_event) -> None:
    """Claims from two stores at once (two processes) split the due calls, none twice."""
    first, second = await open_store(), await open_store()
    for n in range(40):
        await first.add_event(new_event(n, call_id=f"c{n:02d}"))
    claims = await asyncio.gather(
        *(store.claim_calls(5, 60.0, after=0.0) for store in [first, second] * 6)
    )
    taken = [item.call_id for claim in claims for item in claim]
    assert len(taken) == len(set(taken)) == 40


async def test_the_call_kept_for_an_event_is_the_first_one_saved(store, new_event) -> None:
    """A second save answers the first snapshot; an unknown event keeps nothing."""
    await store.add_event(new_event(1))
    assert await store.call_snapshot(new_event(1).id) is None
    assert await store.save_call_snapshot(new_event(1).id, '{"id": "a"}') == '{"id": "a"}'
    assert await store.save_call_snapshot(new_event(1).id, "null") == '{"id": "a"}'
    assert await store.save_call_snapshot("evt_nope", "null") is None


async def test_lists_and_purge(store, new_event) -> None:
    """Calls are listed newest first and by status; purge forgets a call with its last event."""
    await store.add_event(new_event(1, call_id="a"))
    await store.add_event(new_event(2, call_id="b"))
    await store.add_event(_terminal(new_event, 3, "b"))
    assert [c.call_id for c in await store.list_calls()] == ["b", "a"]
    assert [c.call_id for c in await store.list_calls(status="ended")] == ["b"]
    assert [c.call_id for c in await store.list_calls(limit=1)] == ["b"]
    await store.add_event(new_event(4, call_id="a", received_at=time.time() + 3600))
    await store.purge(time.time() + 1)
    assert [c.call_id for c in await store.list_calls()] == ["a"]
