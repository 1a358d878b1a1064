"""receiver.testing: handler authors test their handlers without a server or a database."""

from __future__ import annotations

import pytest

from receiver import Drop, Retry, Router
from receiver.events import HumanDetectionEvent, MessageEvent
from receiver.testing import make_event, run

AGENT_ID = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"  # a Vocode agent id is a uuid


def test_make_event_overrides_the_example() -> None:
    """make_event builds the typed example with the given payload fields replaced."""
    event = make_event("event_message", text="hi", call_id="c-9")
    assert isinstance(event, MessageEvent)
    assert (event.payload.text, event.payload.sender, event.call_id) == ("hi", "human", "c-9")
    assert isinstance(make_event("event_human_detection"), HumanDetectionEvent)
    with pytest.raises(ValueError, match="unknown event type"):
        make_event("event_nope")


async def test_run_reports_each_handlers_outcome_and_follow_ups() -> None:
    """run() gives done/retry/dropped/error per handler and the follow-ups of successful runs."""
    router = Router("team")

    @router.on("event_phone_call_did_not_connect")
    async def call_back(event, ctx) -> None:
        await ctx.follow_up(to_number="+15555550123", from_number="+15555550199", agent=AGENT_ID)

    @router.on("event_phone_call_did_not_connect")
    async def later(event, ctx) -> None:
        raise Retry(after=5)

    @router.on("event_phone_call_did_not_connect")
    async def ignore(event, ctx) -> None:
        raise Drop("busy lines are not retried")

    @router.on("event_phone_call_did_not_connect")
    def broken(event, ctx) -> None:
        ctx.follow_up(to_number="+15555550123", from_number="+15555550199", agent=AGENT_ID)
        raise KeyError("agent")

    @router.on("event_message")
    async def unrelated(event, ctx) -> None: ...

    outcomes = await run(router, make_event("event_phone_call_did_not_connect"), event_id="e1")
    by_name = {o.handler: o for o in outcomes}
    assert list(by_name) == ["team.call_back", "team.later", "team.ignore", "team.broken"]
    assert by_name["team.call_back"].status == "done"
    [follow_up] = by_name["team.call_back"].follow_ups
    assert (follow_up.key, follow_up.to_number) == ("e1/team.call_back/1", "+15555550123")
    assert (by_name["team.later"].status, by_name["team.later"].retry_after) == ("retry", 5)
    assert by_name["team.ignore"].status == "dropped"
    assert by_name["team.broken"].status == "error"
    assert by_name["team.broken"].error == "KeyError: 'agent'"
    assert by_name["team.broken"].follow_ups == ()


async def test_a_follow_up_with_a_misspelt_field_fails_in_the_handler() -> None:
    """ctx.follow_up checks the create request: a typo in an inline agent is the handler's
    error, and no follow-up is recorded."""
    router = Router("team")

    @router.on("event_phone_call_did_not_connect")
    async def call_back(event, ctx) -> None:
        agent = {"prompt": {"content": "You are Alex."}, "inital_message": "Hi"}
        await ctx.follow_up(to_number="+15555550123", from_number="+15555550199", agent=agent)

    [outcome] = await run(router, make_event("event_phone_call_did_not_connect"))
    assert outcome.status == "error" and "inital_message" in outcome.error
    assert outcome.follow_ups == ()
