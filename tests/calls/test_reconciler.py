"""The reconciler against the fake Vocode API, in one process: a lost terminal event is
synthesised and delivered once; 404 is final; 429 and 5xx back off; a call that never ends is
given up; nothing is made for an unsubscribed type; the rate cap is shared."""

from __future__ import annotations

import time

import pytest

from receiver import Router
from receiver.calls.reconciler import Reconciler
from receiver.delivery.registry import Registry
from receiver.errors import SettingsError
from receiver.events import Event
from receiver.service import build_services
from receiver.store.call_records import ClaimedCall
from receiver.store.records import DeliveryFilter
from receiver.vocode.fake import Fault

ENDED = "event_phone_call_ended"
AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
API_KEY = "calls-test-key-0123456789"  # the fake's (tests/calls/conftest.py)


def _recording() -> tuple[Router, list[Event]]:
    router, seen = Router("t"), []

    @router.on(ENDED, "event_phone_call_did_not_connect")
    async def ended(event: Event, ctx) -> None:
        seen.append(event)

    return router, seen


async def test_a_lost_ended_event_is_synthesised_and_delivered_once(service) -> None:
    """A call whose ended event was lost gets it from the call's state, marked synthesized
    with its source; the real one arriving late is its duplicate and runs no handler."""
    router, seen = _recording()
    s = await service(router)
    call_id, [dropped] = await s.play(n_messages=2, drop=[ENDED])
    call = await s.call_when(call_id, lambda c: c.status == "synthesized")
    await s.settled()
    [event] = seen
    assert (event.type, event.call_id) == (ENDED, call_id)
    assert event.synthesized.source == "GET /v1/calls"
    assert event.payload.conversation_minutes == round(3 * 4.0 / 60, 2)
    extra = event.payload.model_extra
    assert (extra["status"], extra["stage"], extra["recording_available"]) == (
        "ended", "picked_up", True,
    )  # fmt: skip
    assert extra["transcript"].startswith("BOT: Hi")
    assert call.terminal_event_id and call.stage == "ended" and call.lookups == 1
    late = await s.post(dropped)
    assert late.status_code == 200
    assert late.json() == {"id": call.terminal_event_id, "duplicate": True}
    assert len(await s.store.list_deliveries(DeliveryFilter(handler="t.ended"))) == 1
    assert s.value("receiver_events_synthesized_total", type=ENDED) == 1
    assert s.value("receiver_calls_reconciled_total", outcome="synthesized") == 1
    assert s.value("receiver_calls_tracked_total") == 1
    assert s.fake.lookups == {call_id: 1}


async def test_a_did_not_connect_is_made_from_the_telephony_status(service) -> None:
    """A call the fake created that did not connect (its event lost, a connected event seen)
    gets event_phone_call_did_not_connect with the telephony status."""
    router, seen = _recording()
    s = await service(router)
    async with s.fake.client() as vocode:
        created = await vocode.create_call(
            {"from_number": "+15555550199", "to_number": "+15555550123", "agent": AGENT}
        )
    await s.post({"type": "event_action", "call_id": created.id, "payload": {}})
    s.fake.state.update_call(
        created.id, status="error", stage_outcome="call_did_not_connect",
        telephony_metadata={"type": "telephony_metadata_twilio", "call_status": "busy"},
    )  # fmt: skip
    await s.call_when(created.id, lambda c: c.status == "synthesized")
    await s.settled()
    [event] = seen
    assert event.type == "event_phone_call_did_not_connect" and event.synthesized is not None
    assert event.payload.telephony_status == "busy"


async def test_404_is_a_final_answer_and_nothing_is_made(service) -> None:
    """A call the API does not know is not_found after one lookup; no event is made."""
    router, seen = _recording()
    s = await service(router)
    await s.post({"type": "event_message", "call_id": "unknown-call", "payload": {}})
    call = await s.call_when("unknown-call", lambda c: c.status == "not_found")
    assert (call.lookups, call.terminal_event_id, call.next_check_at) == (1, None, None)
    assert s.fake.lookups == {"unknown-call": 1}
    assert await s.store.count_events() == 1 and seen == []
    assert s.value("receiver_call_lookups_total", outcome="not_found") == 1
    assert s.value("receiver_calls_reconciled_total", outcome="not_found") == 1


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Fault.answer(429, retry_after="0.3", operation="get_call"), "rate_limited"),
        (Fault.answer(503, operation="get_call"), "failed"),
    ],
    ids=["429", "503"],
)
async def test_429_and_5xx_back_off_then_the_event_is_made(service, fault, outcome) -> None:
    """A 429 (after its Retry-After) or a 5xx is looked up again; the second lookup makes
    the event, once."""
    router, seen = _recording()
    s = await service(router)
    s.fake.inject(fault)
    call_id, _ = await s.play(n_messages=1, drop=[ENDED])
    call = await s.call_when(call_id, lambda c: c.status == "synthesized")
    await s.settled()
    assert len(seen) == 1 and call.lookups == 2 and s.fake.lookups == {call_id: 2}
    assert s.value("receiver_call_lookups_total", outcome=outcome) == 1
    assert s.value("receiver_call_lookups_total", outcome="ended") == 1


async def test_429_waits_as_long_as_vocode_asks(service) -> None:
    """The next lookup after a 429 is due when its Retry-After says."""
    s = await service(reconcile_after_seconds=3600)
    s.fake.inject(Fault.answer(429, retry_after="120", operation="get_call"))
    await s.post({"type": "event_message", "call_id": "c1", "payload": {}})
    [item] = await s.store.claim_calls(1, 60.0, after=0.0)
    before = time.time()
    await s.services.reconciler.record(await s.services.reconciler.look_up(item))
    call = await s.store.get_call("c1")
    assert call.status == "open" and before + 119 <= call.next_check_at <= time.time() + 121


async def test_a_call_that_goes_on_is_looked_up_again_later(service) -> None:
    """A call still in progress is looked up again after the delay (equal jitter: between
    half of it and all of it), doubling at each lookup."""
    s = await service(reconcile_after_seconds=100)
    async with s.fake.client() as vocode:
        created = await vocode.create_call(
            {"from_number": "+15555550199", "to_number": "+15555550123", "agent": AGENT}
        )
    reconciler: Reconciler = s.services.reconciler
    for attempt, ceiling in ((1, 100), (3, 400)):
        before = time.time()
        lookup = await reconciler.look_up(ClaimedCall(created.id, attempt, before, "created"))
        assert (lookup.status, lookup.event) == ("open", None)
        assert before + ceiling / 2 <= lookup.next_check_at <= time.time() + ceiling


async def test_a_call_that_never_ends_is_given_up(service) -> None:
    """Past RECEIVER_RECONCILE_GIVE_UP_HOURS after its last event, a call still going on
    is unreconciled, counted and listed; it is looked up no more."""
    s = await service(reconcile_give_up_hours=0.0001)  # 0.36 s, less than a lookup
    async with s.fake.client() as vocode:
        created = await vocode.create_call(
            {"from_number": "+15555550199", "to_number": "+15555550123", "agent": AGENT}
        )
    await s.post({"type": "event_phone_call_connected", "call_id": created.id, "payload": {}})
    call = await s.call_when(created.id, lambda c: c.status == "unreconciled")
    assert call.last_result.startswith("given up") and call.next_check_at is None
    assert [c.call_id for c in await s.store.list_calls(status="unreconciled")] == [created.id]
    assert s.value("receiver_calls_reconciled_total", outcome="unreconciled") == 1
    assert await s.store.claim_calls(10, 60.0, after=0.0) == []


async def test_an_unsubscribed_type_is_not_made(service) -> None:
    """The API says the call ended but event_phone_call_ended is not subscribed: the call is
    reconciled and nothing is stored."""
    s = await service(subscriptions="event_message,event_phone_call_did_not_connect")
    unsubscribed = ["event_phone_call_connected", ENDED, "event_transcript", "event_recording"]
    call_id, _ = await s.play(n_messages=1, drop=unsubscribed)
    call = await s.call_when(call_id, lambda c: c.status == "reconciled")
    assert "not in RECEIVER_SUBSCRIPTIONS" in call.last_result
    assert {e.type for e in await s.store.list_events(call_id=call_id)} == {"event_message"}


def test_one_rate_cap_for_sends_lookups_and_enrichment(settings_factory, fake) -> None:
    """build_services gives the sender, the reconciler and the enrichment one limiter."""
    router = Router("t")

    @router.on(ENDED, enrich=True)
    async def enriched(event, ctx) -> None: ...

    settings = settings_factory(vocode_api_key=API_KEY, vocode_base_url=fake.url)
    services = build_services(settings, registry=Registry([router]))
    limiter = services.sender._limiter
    assert services.reconciler._limiter is limiter
    assert services.worker.enricher.limiter is limiter


@pytest.mark.parametrize(
    "overrides",
    [{}, {"reconcile": False}, {"subscriptions": "event_message"}],
    ids=["no-api-key", "reconcile-off", "no-terminal-type-subscribed"],
)
def test_no_reconciler_when_it_could_not_or_should_not_run(settings_factory, overrides) -> None:
    """Without an API key, with RECEIVER_RECONCILE=false, or with neither terminal type
    subscribed, no reconciler runs."""
    if overrides:
        overrides = {"vocode_api_key": API_KEY, **overrides}
    assert build_services(settings_factory(**overrides)).reconciler is None


def test_an_enrich_handler_needs_the_api_key(settings_factory) -> None:
    """A handler registered with enrich=True and no RECEIVER_VOCODE_API_KEY stops start-up,
    naming the handler."""
    router = Router("t")

    @router.on(ENDED, enrich=True)
    async def enriched(event, ctx) -> None: ...

    with pytest.raises(SettingsError, match=r"t\.enriched"):
        build_services(settings_factory(), registry=Registry([router]))
