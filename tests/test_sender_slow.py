"""At most once, also when Vocode is slow: a create whose outcome is unknown is never sent
again unless the request provably never reached the API. The call is looked for over the
reconcile window, and an intent whose call is still not found is held for an operator.

Against the fake Vocode API over real HTTP, like ``test_sender.py`` (whose helpers these use).
"""

from __future__ import annotations

import asyncio

import pytest
from test_sender import API_KEY, calls_for, fake, intent, run_sender, sender_factory, vocode

from receiver.follow_ups.sender import Sender
from receiver.metrics import Metrics
from receiver.vocode.client import VocodeClient
from receiver.vocode.fake import FakeVocode, Fault

__all__ = ["fake", "sender_factory", "vocode"]  # fixtures shared with test_sender.py


async def test_creates_slower_than_timeout_and_reconcile_delay_dial_once(
    store, vocode, sender_factory
) -> None:
    """The issue's case: 2 s timeout, 1 s reconcile delay, creates taking 4 s. Each intent is
    found by its key once its create lands, and each number is dialled once."""
    vocode.inject(Fault.delay(4.0), times=12)  # every create of this test takes 4 s
    keys = [await intent(store, to_number=f"+1555555011{n}") for n in range(3)]
    sender = sender_factory(
        timeout=2.0, follow_up_reconcile_delay_seconds=1.0,
        follow_up_reconcile_window_seconds=30.0, vocode_timeout_seconds=2.0,
    )  # fmt: skip
    records = await run_sender(sender, store, keys)
    async with asyncio.timeout(30):  # creates abandoned by their client still land: wait
        while vocode.creates_in_flight:
            await asyncio.sleep(0.05)
    for key in keys:
        assert calls_for(vocode, key) == 1, key
        assert records[key].status == "created"
        assert records[key].vocode_call_id in {c.id for c in vocode.calls}


@pytest.mark.parametrize(
    "fault", [Fault.reset_before_commit(), Fault.answer(500), Fault.answer(503)]
)
async def test_an_unknown_outcome_never_found_is_held_not_resent(
    store, vocode, sender_factory, fault
) -> None:
    """A reset after the request was written, or a 5xx, with no call found in the window:
    held for an operator (counted as unresolved), never sent again by itself."""
    vocode.inject(fault)
    key = await intent(store)
    sender = sender_factory(
        follow_up_reconcile_delay_seconds=0.1, follow_up_reconcile_window_seconds=0.5
    )
    record = (await run_sender(sender, store, [key]))[key]
    assert record.status == "held" and "release" in record.reason
    assert calls_for(vocode, key) == 0
    sample = sender.metrics.registry.get_sample_value
    assert sample("receiver_follow_ups_total", {"outcome": "unresolved"}) == 1


async def test_a_released_unresolved_intent_is_looked_for_once_then_sent(
    store, vocode, sender_factory
) -> None:
    """After `follow-ups release`, the call is looked for once and, absent, sent once."""
    vocode.inject(Fault.reset_before_commit())
    key = await intent(store)
    settings = dict(follow_up_reconcile_delay_seconds=0.1, follow_up_reconcile_window_seconds=0.5)
    assert (await run_sender(sender_factory(**settings), store, [key]))[key].status == "held"
    assert await store.release_follow_up(key)
    record = (await run_sender(sender_factory(**settings), store, [key]))[key]
    assert record.status == "created" and calls_for(vocode, key) == 1


async def test_a_released_intent_whose_call_appeared_is_not_sent(
    store, vocode, sender_factory
) -> None:
    """A call that landed after its intent was held is found after the release: not sent."""
    vocode.inject(Fault.delay(2.0))
    key = await intent(store)
    settings = dict(follow_up_reconcile_delay_seconds=0.1, follow_up_reconcile_window_seconds=0.3)
    first = (await run_sender(sender_factory(timeout=0.5, **settings), store, [key]))[key]
    assert first.status == "held"  # the slow create had not landed within the window
    while calls_for(vocode, key) == 0:  # it lands: the fake finishes the create anyway
        await asyncio.sleep(0.05)
    assert await store.release_follow_up(key)
    record = (await run_sender(sender_factory(**settings), store, [key]))[key]
    assert record.status == "created" and calls_for(vocode, key) == 1
    assert record.vocode_call_id == vocode.calls[0].id


async def test_a_request_that_never_reached_the_api_is_sent_when_it_can(
    store, settings_factory, free_port
) -> None:
    """Connection refused proves nothing was sent: retried until the API answers, one call."""
    key = await intent(store)
    settings = settings_factory(
        poll_interval_seconds=0.05, retry_base_seconds=0.05, retry_cap_seconds=0.1
    )
    client = VocodeClient(API_KEY, base_url=f"http://127.0.0.1:{free_port}", timeout=2.0)
    sender = Sender(store, client, settings, metrics=Metrics())
    sender.start()
    try:
        async with asyncio.timeout(30):
            while (await store.get_follow_up(key)).attempts < 2:  # refused, retried
                await asyncio.sleep(0.02)
        with FakeVocode(api_key=API_KEY, port=free_port) as late:
            async with asyncio.timeout(30):
                while (await store.get_follow_up(key)).status != "created":
                    await asyncio.sleep(0.02)
            assert calls_for(late, key) == 1
    finally:
        await sender.stop()
        await client.aclose()
