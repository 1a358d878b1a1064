"""Follow-up intents on both backends: claims, guards (also between two senders), fencing,
operator actions, the do-not-call list, and the sender against the fake Vocode API."""

from __future__ import annotations

import asyncio
import itertools
import time

from receiver.follow_ups.guards import FollowUpGuards
from receiver.follow_ups.intent import FOLLOW_UP_KEY, FollowUpRequest
from receiver.follow_ups.sender import Sender
from receiver.store.records import Finish, FollowUpStats
from receiver.vocode.fake import FakeVocode

GUARDS = FollowUpGuards(max_per_number=3, max_depth=2)
NUMBER = "+15555550123"
AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
_seq = itertools.count(1)


async def intent(store, new_event, *, to_number: str = NUMBER, call_id: str = "c1") -> str:
    """Record one intent the way a successful handler run does; return its key."""
    n = next(_seq)
    await store.add_event(new_event(n, call_id=call_id, handlers=("t.h",)))
    [c] = await store.claim({"t.h": 1}, frozenset(), {"t.h": 60.0})
    key = f"{c.event_id}/t.h/1"
    request = FollowUpRequest(
        key, call_id, to_number, "+15555550199", AGENT, {"n": str(n)}, time.time(), {}
    )
    assert await store.finish(Finish(c.id, c.attempt, "done", follow_ups=(request,)))
    return key


async def test_claim_marks_sending_and_the_attempt_fences(store, new_event) -> None:
    """A claimed intent is sending; only its own attempt may record the outcome, once."""
    key = await intent(store, new_event)
    claim = await store.claim_follow_ups(10, 60.0, GUARDS)
    [item] = claim.claimed
    assert (item.key, item.attempt, item.depth, item.reconcile) == (key, 1, 1, False)
    assert item.request["to_number"] == NUMBER and set(item.request["context"]) == {"n"}
    assert (await store.get_follow_up(key)).status == "sending"
    assert await store.claim_follow_ups(10, 60.0, GUARDS) == type(claim)([], [])
    assert await store.complete_follow_up(key, 1, "created", vocode_call_id="v1")
    assert not await store.complete_follow_up(key, 1, "held", reason="late")
    record = await store.get_follow_up(key)
    assert (record.status, record.vocode_call_id, record.attempts) == ("created", "v1", 1)


async def test_a_dead_senders_intent_comes_back_to_be_reconciled(store, new_event) -> None:
    """An intent whose lease ended while sending is claimed again, flagged for reconciliation."""
    key = await intent(store, new_event)
    [first] = (await store.claim_follow_ups(10, -1.0, GUARDS)).claimed
    [again] = (await store.claim_follow_ups(10, 60.0, GUARDS)).claimed
    assert (again.key, again.attempt, again.reconcile) == (key, 2, True)
    assert not await store.complete_follow_up(key, first.attempt, "created", vocode_call_id="x")


async def test_a_search_keeps_its_window_and_a_release_ends_it(store, new_event) -> None:
    """A dead sender's intent gets a search window once; later claims keep it; a retry
    records it; a release clears it (looked for once, then sent)."""
    key = await intent(store, new_event)
    await store.claim_follow_ups(10, -1.0, GUARDS)
    before = time.time()
    [again] = (await store.claim_follow_ups(10, -1.0, GUARDS, reconcile_window=120.0)).claimed
    assert again.reconcile and before + 120 <= again.reconcile_until <= time.time() + 120
    [third] = (await store.claim_follow_ups(10, 60.0, GUARDS, reconcile_window=5.0)).claimed
    assert third.reconcile_until == again.reconcile_until  # the window is not moved on
    assert await store.complete_follow_up(
        key, third.attempt, "held", reason="unresolved", reconcile=True,
        reconcile_until=third.reconcile_until,
    )  # fmt: skip
    assert (await store.get_follow_up(key)).reconcile_until == third.reconcile_until
    assert await store.release_follow_up(key)
    record = await store.get_follow_up(key)
    assert (record.status, record.reconcile, record.reconcile_until) == ("pending", True, None)
    [released] = (await store.claim_follow_ups(10, 60.0, GUARDS, reconcile_window=5.0)).claimed
    assert (released.reconcile, released.reconcile_until) == (True, None)


async def test_a_released_intent_is_guarded_again(store, new_event) -> None:
    """An intent held after an unknown outcome, its number put on the do-not-call list
    meanwhile, is refused when released: a release never dials past a guard."""
    key = await intent(store, new_event)
    [item] = (await store.claim_follow_ups(10, 60.0, GUARDS)).claimed
    assert await store.complete_follow_up(
        key, item.attempt, "held", reason="unresolved", reconcile=True, reconcile_until=1.0
    )
    await store.dnc_add(NUMBER, "asked us not to")
    assert await store.release_follow_up(key)
    claim = await store.claim_follow_ups(10, 60.0, GUARDS, reconcile_window=5.0)
    assert (claim.claimed, claim.refused) == ([], [(key, "do_not_call")])


async def test_retry_waits_until_its_time(store, new_event) -> None:
    """An intent put back to pending with a later time is not claimed before then."""
    key = await intent(store, new_event)
    [item] = (await store.claim_follow_ups(10, 60.0, GUARDS)).claimed
    later = time.time() + 3600
    assert await store.complete_follow_up(
        key, item.attempt, "pending", reason="429", next_attempt_at=later
    )
    assert (await store.claim_follow_ups(10, 60.0, GUARDS)).claimed == []
    assert (await store.get_follow_up(key)).next_attempt_at >= later - 1


async def test_do_not_call_list_refuses_and_operators_release(store, new_event) -> None:
    """A listed number is refused; the list normalises numbers; a released intent is pending."""
    await store.dnc_add("+1 (555) 555-0123", "asked us not to")
    assert [(n, r) for n, r, _ in await store.dnc_list()] == [(NUMBER, "asked us not to")]
    key = await intent(store, new_event)
    claim = await store.claim_follow_ups(10, 60.0, GUARDS)
    assert (claim.claimed, claim.refused) == ([], [(key, "do_not_call")])
    assert await store.dnc_remove("+1 555 555 0123")
    assert not await store.dnc_remove(NUMBER)
    assert await store.release_follow_up(key)
    [item] = (await store.claim_follow_ups(10, 60.0, GUARDS)).claimed
    assert item.key == key


async def test_cancel_and_listing(store, new_event) -> None:
    """Cancel ends a pending intent; listing filters by status, newest first."""
    first = await intent(store, new_event)
    second = await intent(store, new_event, to_number="+15555550124")
    assert await store.cancel_follow_up(first)
    assert not await store.cancel_follow_up(first + "x")
    assert [r.key for r in await store.list_follow_ups(status="cancelled")] == [first]
    assert {r.key for r in await store.list_follow_ups()} == {first, second}
    assert await store.get_follow_up("missing") is None


async def test_chain_depth_is_limited(store, new_event) -> None:
    """A follow-up of a call that a follow-up created is one deeper; too deep is refused."""
    key = await intent(store, new_event)
    [item] = (await store.claim_follow_ups(10, 60.0, GUARDS)).claimed
    assert await store.complete_follow_up(key, item.attempt, "created", vocode_call_id="vc-1")
    child = await intent(store, new_event, call_id="vc-1", to_number="+15555550777")
    assert (await store.get_follow_up(child)).depth == 2
    claim = await store.claim_follow_ups(10, 60.0, FollowUpGuards(max_depth=1))
    assert claim.refused == [(child, "depth")]


async def test_cap_per_number_holds_between_two_senders(store, open_store, new_event) -> None:
    """Two stores (two senders) claiming intents to one number at once: at most the cap."""
    keys = [await intent(store, new_event) for _ in range(10)]
    other = await open_store()

    async def claim_all(one) -> list[str]:
        got: list[str] = []
        for _ in range(12):
            got += [c.key for c in (await one.claim_follow_ups(1, 60.0, GUARDS)).claimed]
            await asyncio.sleep(0)
        return got

    first, second = await asyncio.gather(claim_all(store), claim_all(other))
    assert len(first) + len(second) == GUARDS.max_per_number
    statuses = [(await store.get_follow_up(k)).status for k in keys]
    assert sorted(statuses) == ["refused"] * 7 + ["sending"] * 3


async def test_two_senders_create_one_call_per_intent(
    store, open_store, new_event, settings_factory
):
    """Two senders (two stores) on one database against the fake API: one call per intent."""
    keys = [await intent(store, new_event, to_number=f"+1555555{n:04d}") for n in range(8)]
    settings = settings_factory(poll_interval_seconds=0.05, follow_up_rate_per_second=100)
    with FakeVocode(api_key="k" * 20) as fake:
        senders = []
        for one in (store, await open_store()):
            sender = Sender(one, fake.client(), settings)
            sender.start()
            senders.append(sender)
        try:
            for _ in range(500):  # bounded wait, not a measurement
                records = [await store.get_follow_up(k) for k in keys]
                if all(r.status == "created" for r in records):
                    break
                await asyncio.sleep(0.02)
        finally:
            for sender in senders:
                await sender.stop()
                await sender.client.aclose()
        made = [r.context.get(FOLLOW_UP_KEY) for r in fake.created]
    assert sorted(made) == sorted(keys)
    assert all(r.status == "created" for r in records)


async def test_follow_up_stats_count_the_backlog_and_the_held(store, new_event) -> None:
    """Pending and sending intents are the backlog; held ones are counted apart; others not."""
    keys = [await intent(store, new_event) for _ in range(4)]
    assert await store.follow_up_stats() == FollowUpStats(pending=4, held=0)
    [a, b] = (await store.claim_follow_ups(2, 60.0, GUARDS)).claimed  # sending: still backlog
    assert await store.follow_up_stats() == FollowUpStats(pending=4, held=0)
    assert await store.complete_follow_up(a.key, a.attempt, "held", reason="unknown")
    assert await store.complete_follow_up(b.key, b.attempt, "created", vocode_call_id="v")
    [waiting, _] = sorted(set(keys) - {a.key, b.key})
    assert await store.cancel_follow_up(waiting)
    assert await store.follow_up_stats() == FollowUpStats(pending=1, held=1)
