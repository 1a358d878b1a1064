"""Follow-up calls against the fake Vocode API over real HTTP: no intent ever dials twice."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from receiver.follow_ups.intent import FOLLOW_UP_DEPTH, FOLLOW_UP_KEY, FollowUpRequest
from receiver.follow_ups.sender import Sender
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.store.records import Finish, NewEvent
from receiver.store.sqlite.store import SQLiteStore
from receiver.vocode.fake import FakeVocode, Fault

API_KEY = "fake-api-key-0123456789"
AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
TERMINAL = {"created", "rejected", "held", "refused", "cancelled", "suppressed"}
_seq = itertools.count()


@pytest.fixture(scope="module")
def fake() -> AsyncIterator[FakeVocode]:
    """One fake Vocode API server for the module; reset before each test."""
    with FakeVocode(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def vocode(fake: FakeVocode) -> FakeVocode:
    fake.state.reset()
    fake.clear_faults()
    return fake


async def intent(
    store: SQLiteStore,
    *,
    to_number: str = "+15555550123",
    call_id: str | None = None,
    side_effects: bool = True,
) -> str:
    """Record one follow-up intent the way a successful handler run does; return its key."""
    n = next(_seq)
    call_id = call_id or f"call-{n}"
    envelope = f'{{"type":"event_phone_call_did_not_connect","call_id":"{call_id}","payload":{{}}}}'
    await store.add_event(
        NewEvent(f"evt_{n}", f"k{n}", "event_phone_call_did_not_connect", call_id, time.time(),
                 "POST", "{}", envelope, b"{}", ("t.h",))
    )  # fmt: skip
    [claimed] = await store.claim({"t.h": 1}, frozenset(), {"t.h": 60.0})
    key = f"evt_{n}/t.h/1"
    request = FollowUpRequest(key, call_id, to_number, "+15555550199", AGENT, {"n": str(n)},
                              time.time(), {"on_no_human_answer": "hangup"})  # fmt: skip
    ok = await store.finish(
        Finish(
            claimed.id, claimed.attempt, "done", follow_ups=(request,), side_effects=side_effects
        )
    )
    assert ok
    return key


@pytest.fixture
def sender_factory(
    store: SQLiteStore, vocode: FakeVocode, settings_factory: Callable[..., Settings]
) -> AsyncIterator[Callable[..., Sender]]:
    """``make(**settings) -> Sender`` on this test's store, talking to the fake."""
    made: list[tuple[Sender, Any]] = []

    def make(timeout: float = 2.0, api_key: str = API_KEY, **overrides: Any) -> Sender:
        values = dict(poll_interval_seconds=0.05, retry_base_seconds=0.01,
                      retry_cap_seconds=0.05, follow_up_reconcile_delay_seconds=0.0)  # fmt: skip
        values.update(overrides)
        client = vocode.client(timeout=timeout)
        if api_key != API_KEY:
            from receiver.vocode.client import VocodeClient

            client = VocodeClient(api_key, base_url=vocode.url, timeout=timeout)
        sender = Sender(store, client, settings_factory(**values), metrics=Metrics())
        made.append((sender, client))
        return sender

    return make


async def settle(store: SQLiteStore, keys: list[str], timeout: float = 15.0) -> dict[str, Any]:
    """Wait until every intent in ``keys`` is in a terminal state (a bound, not a measure)."""
    deadline = time.monotonic() + timeout
    while True:
        records = {k: await store.get_follow_up(k) for k in keys}
        if all(r is not None and r.status in TERMINAL for r in records.values()):
            return records
        if time.monotonic() > deadline:
            raise AssertionError({k: (r.status, r.reason) for k, r in records.items() if r})
        await asyncio.sleep(0.02)


async def run_sender(sender: Sender, store: SQLiteStore, keys: list[str]) -> dict[str, Any]:
    sender.start()
    try:
        return await settle(store, keys)
    finally:
        await sender.stop()
        await sender.client.aclose()


def calls_for(vocode: FakeVocode, key: str) -> int:
    return sum(1 for request in vocode.created if (request.context or {}).get(FOLLOW_UP_KEY) == key)


async def test_happy_path_creates_one_call_carrying_the_key(store, vocode, sender_factory) -> None:
    """A pending intent becomes one Vocode call whose context carries its key and depth."""
    key = await intent(store)
    records = await run_sender(sender_factory(), store, [key])
    record = records[key]
    assert record.status == "created"
    [request] = vocode.created
    assert request.context[FOLLOW_UP_KEY] == key and request.context[FOLLOW_UP_DEPTH] == "1"
    assert request.context["n"]  # the handler's own context is kept
    assert record.vocode_call_id == vocode.calls[0].id
    assert request.on_no_human_answer == "hangup"
    sent = {"from_number", "to_number", "agent", "context", "on_no_human_answer"}
    assert request.model_fields_set == sent  # what the handler set, and nothing of ours


async def test_an_intent_that_is_not_a_valid_request_is_rejected_unsent(
    store, vocode, sender_factory
) -> None:
    """An intent recorded before its fields were checked (an older version) is rejected with
    the field errors, never sent, never retried."""
    key = await intent(store, to_number="")
    records = await run_sender(sender_factory(), store, [key])
    assert records[key].status == "rejected" and "to_number" in records[key].reason
    assert vocode.created == []


async def test_422_is_rejected_and_never_retried(store, vocode, sender_factory) -> None:
    """A 422 answer marks the intent rejected with the field errors, after one request."""
    vocode.inject(Fault.answer(422), Fault.answer(422))
    key = await intent(store)
    record = (await run_sender(sender_factory(), store, [key]))[key]
    assert record.status == "rejected" and "Rejected" in record.reason
    assert len(vocode.pending_faults) == 1  # the second scripted 422 was never asked for
    assert vocode.created == []


async def test_429_honours_retry_after(store, vocode, sender_factory) -> None:
    """A 429 is retried no sooner than its Retry-After, then creates exactly one call."""
    vocode.inject(Fault.answer(429, retry_after=1))
    key = await intent(store)
    started = time.time()
    record = (await run_sender(sender_factory(), store, [key]))[key]
    assert record.status == "created" and calls_for(vocode, key) == 1
    assert record.updated_at - started >= 1.0  # waited as asked, a lower bound only


@pytest.mark.parametrize(
    "fault", [Fault.commit_then_timeout(hang_seconds=5), Fault.commit_then_drop()]
)
async def test_unknown_outcome_is_reconciled_not_resent(
    store, vocode, sender_factory, fault
) -> None:
    """The fake created the call but no answer came back: found by its key, not sent twice."""
    vocode.inject(fault)
    key = await intent(store)
    record = (await run_sender(sender_factory(timeout=0.5), store, [key]))[key]
    assert record.status == "created" and calls_for(vocode, key) == 1
    assert record.vocode_call_id == vocode.calls[0].id


async def test_wrong_api_key_is_held_for_an_operator(store, vocode, sender_factory) -> None:
    """A 401 holds the intent with the reason; release after fixing the key sends it once."""
    key = await intent(store)
    record = (await run_sender(sender_factory(api_key="wrong-key-000000000"), store, [key]))[key]
    assert record.status == "held" and "401" in record.reason
    assert await store.release_follow_up(key)
    record = (await run_sender(sender_factory(), store, [key]))[key]
    assert record.status == "created" and calls_for(vocode, key) == 1


async def test_do_not_call_list_refuses(store, vocode, sender_factory) -> None:
    """A number on the do-not-call list is refused, in any formatting, and never dialled."""
    await store.dnc_add("+1 (555) 555-0123", "asked not to be called")
    key = await intent(store, to_number="+15555550123")
    metrics_sender = sender_factory()
    record = (await run_sender(metrics_sender, store, [key]))[key]
    assert (record.status, record.reason) == ("refused", "do_not_call")
    assert vocode.created == []
    sample = metrics_sender.metrics.registry.get_sample_value
    assert sample("receiver_follow_ups_total", {"outcome": "refused_dnc"}) == 1


async def test_cap_per_number_refuses_the_extra_call(store, vocode, sender_factory) -> None:
    """With a cap of 2 calls per number per day, a third intent to that number is refused."""
    keys = [await intent(store, to_number="+15555550177") for _ in range(3)]
    other = await intent(store, to_number="+15555550188")
    records = await run_sender(sender_factory(follow_up_max_per_number=2), store, [*keys, other])
    statuses = sorted(records[k].status for k in keys)
    assert statuses == ["created", "created", "refused"]
    assert records[other].status == "created"
    assert len(vocode.created) == 3


async def test_chain_depth_is_limited(store, vocode, sender_factory) -> None:
    """A follow-up from a call that a follow-up created is refused past the maximum depth."""
    first = await intent(store)
    record = (await run_sender(sender_factory(follow_up_max_depth=1), store, [first]))[first]
    child = await intent(store, call_id=record.vocode_call_id, to_number="+15555550166")
    child_record = await store.get_follow_up(child)
    assert child_record.depth == 2
    record = (await run_sender(sender_factory(follow_up_max_depth=1), store, [child]))[child]
    assert (record.status, record.reason) == ("refused", "depth")
    assert len(vocode.created) == 1


async def test_no_side_effects_dials_nobody(store, vocode, sender_factory) -> None:
    """An intent recorded by a replay with side effects off stays suppressed and is not sent."""
    key = await intent(store, side_effects=False)
    sender = sender_factory()
    sender.start()
    await asyncio.sleep(0.3)  # several claim rounds; nothing may be sent
    await sender.stop()
    await sender.client.aclose()
    assert (await store.get_follow_up(key)).status == "suppressed"
    assert vocode.created == []


async def test_cancel_stops_a_pending_intent(store, vocode, sender_factory) -> None:
    """A cancelled intent is never sent."""
    key = await intent(store)
    assert await store.cancel_follow_up(key)
    assert not await store.cancel_follow_up(key + "-missing")
    record = (await run_sender(sender_factory(), store, [key]))[key]
    assert record.status == "cancelled" and vocode.created == []
