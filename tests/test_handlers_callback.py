"""The example call-back handler, tested the way teams test theirs: receiver.testing + the fake."""

from __future__ import annotations

import time

import pytest

from handlers.callback import router
from receiver.testing import make_event, run
from receiver.vocode.fake import FakeVocode
from receiver.vocode.models import Call

AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"


@pytest.fixture
def callback_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_AGENT", AGENT)
    monkeypatch.setenv("CALLBACK_FROM_NUMBER", "+15555550199")
    monkeypatch.setenv("CALLBACK_DELAY_SECONDS", "600")


async def test_no_answer_asks_for_one_call_back_later(callback_env) -> None:
    """A no-answer call is called back once, to the number the API reports, after the delay."""
    with FakeVocode(api_key="k" * 20) as fake:
        async with fake.client() as vocode:
            first = await vocode.create_call(
                {"from_number": "+15555550199", "to_number": "+15555550123", "agent": AGENT}
            )
            event = make_event("event_phone_call_did_not_connect", call_id=first.id)
            before = time.time()
            [outcome] = await run(router, event, vocode=vocode)
    assert outcome.status == "done"
    [follow_up] = outcome.follow_ups
    assert (follow_up.to_number, follow_up.agent) == ("+15555550123", AGENT)
    assert follow_up.not_before >= before + 600
    assert follow_up.context == {"callback_of": first.id, "callback_reason": "did_not_connect"}


@pytest.mark.parametrize(("detected", "calls_back"), [("no_human", True), ("human", False)])
async def test_an_ended_call_is_called_back_when_no_human_answered(
    callback_env, detected: str, calls_back: bool
) -> None:
    """An ended call whose Call says no human was detected is called back; one a human
    answered is not (the handler is done either way)."""
    call = Call(id="c1", status="ended", to_number="+15555550123", human_detection_result=detected)
    [outcome] = await run(router, make_event("event_phone_call_ended", call_id="c1"), call=call)
    assert outcome.status == "done"
    assert [f.context for f in outcome.follow_ups] == (
        [{"callback_of": "c1", "callback_reason": "no_human"}] if calls_back else []
    )


async def test_failed_or_cancelled_calls_are_not_called_back(callback_env) -> None:
    """Only the statuses in CALLBACK_STATUSES (no-answer, busy) earn a call back."""
    event = make_event("event_phone_call_did_not_connect", telephony_status="failed")
    assert await run(router, event) == []


async def test_a_call_the_api_does_not_know_is_dropped(callback_env) -> None:
    """Without the Call (the API does not know it) there is no number: dropped, saying why."""
    [outcome] = await run(router, make_event("event_phone_call_did_not_connect"))
    assert outcome.status == "dropped" and "does not know the call" in outcome.error


async def test_missing_configuration_drops_with_a_reason() -> None:
    """Without an agent and a from-number the handler drops the delivery, saying why."""
    [outcome] = await run(router, make_event("event_phone_call_did_not_connect"))
    assert outcome.status == "dropped" and "CALLBACK_AGENT" in outcome.error
