"""enrich=True: handlers get the Call as ctx.call, fetched once per event and kept in the
store; a 404 is kept as None; a 429 retries the delivery; a synthesised event brings the
Call it was made from."""

from __future__ import annotations

from receiver import Router
from receiver.events import Event
from receiver.store.records import DeliveryFilter
from receiver.testing import make_event, run
from receiver.vocode.fake import Fault
from receiver.vocode.models import Call

ENDED = "event_phone_call_ended"


def _enriched(n: int, *, calls: list[Call | None]) -> Router:
    """``n`` handlers of ended events with enrich=True, each noting the ctx.call it got."""
    router = Router("t")
    for i in range(n):

        async def handler(event: Event, ctx) -> None:
            calls.append(ctx.call)

        handler.__name__ = f"h{i}"
        router.on(ENDED, ordered=False, enrich=True)(handler)
    return router


async def test_ten_handlers_make_one_request(service) -> None:
    """Ten handlers of one event get the same Call from one GET /v1/calls, kept with the event."""
    calls: list[Call | None] = []
    s = await service(_enriched(10, calls=calls), reconcile=False)
    call_id, _ = await s.play(n_messages=1)
    await s.settled()
    assert len(calls) == 10 and {c.to_number for c in calls} == {"+15555550123"}
    assert {c.status for c in calls} == {"ended"}
    assert s.fake.lookups == {call_id: 1}
    [ended] = await s.store.list_events(type=ENDED)
    assert Call.model_validate_json(await s.store.call_snapshot(ended.id)).id == call_id


async def test_a_call_the_api_does_not_know_is_none_once(service) -> None:
    """A 404 gives every enrich handler ctx.call None, from one request."""
    calls: list[Call | None] = []
    s = await service(_enriched(2, calls=calls), reconcile=False)
    response = await s.post({"type": ENDED, "call_id": "nobody-knows", "payload": {}})
    assert response.status_code == 202
    await s.settled()
    assert calls == [None, None] and s.fake.lookups == {"nobody-knows": 1}


async def test_a_429_retries_the_delivery_after_retry_after(service) -> None:
    """When the Call cannot be fetched (429), the handler does not run: the delivery is
    retried after Retry-After, then gets the Call."""
    calls: list[Call | None] = []
    s = await service(_enriched(1, calls=calls), reconcile=False)
    s.fake.inject(Fault.answer(429, retry_after="0.2", operation="get_call"))
    call_id, _ = await s.play(n_messages=1)
    [row] = await s.settled()
    assert (row.status, row.attempts) == ("done", 2) and "429" in row.last_error
    assert [c.id for c in calls] == [call_id] and s.fake.lookups == {call_id: 2}


async def test_a_synthesised_event_brings_its_call(service) -> None:
    """Handlers of a synthesised event get the Call the reconciler fetched: no more requests."""
    calls: list[Call | None] = []
    s = await service(_enriched(3, calls=calls))
    call_id, _ = await s.play(n_messages=1, drop=[ENDED])
    await s.call_when(call_id, lambda c: c.status == "synthesized")
    await s.settled()
    assert [c.id for c in calls] == [call_id] * 3 and s.fake.lookups == {call_id: 1}
    rows = await s.store.list_deliveries(DeliveryFilter(status="done"))
    assert len(rows) == 3


async def test_the_testing_kit_hands_the_call_given() -> None:
    """receiver.testing.run gives enrich handlers the Call passed as call=, others None."""
    calls: list[Call | None] = []
    router = _enriched(1, calls=calls)
    seen = []

    @router.on(ENDED)
    async def plain(event, ctx) -> None:
        seen.append(ctx.call)

    call = Call(id="c1", status="ended", to_number="+15555550123")
    outcomes = await run(router, make_event(ENDED, call_id="c1"), call=call)
    assert [o.status for o in outcomes] == ["done", "done"]
    assert calls == [call] and seen == [None]
