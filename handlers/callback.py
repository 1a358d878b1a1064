"""Call back a number whose call did not connect, or that no human answered — the model
follow-up handler for teams.

Enable it with ``RECEIVER_HANDLERS=handlers.log:router,handlers.callback:router`` and set:

- ``CALLBACK_AGENT``: the Vocode agent id to call with (the same agent as the first call);
- ``CALLBACK_FROM_NUMBER``: one of the account's numbers;
- ``CALLBACK_DELAY_SECONDS``: how long to wait before calling back (default 3600);
- ``CALLBACK_STATUSES``: which telephony statuses earn a call back (default ``no-answer,busy``).

Neither a call that did not connect nor one that ended carries the number called, so both
handlers ask for the call as the Vocode API reports it (``enrich=True``: ``ctx.call``, fetched
once per event). An ended call is called back when no human was detected on it (a machine
answered). Either event may be one the receiver synthesised because Vocode's never came
(``event.synthesized``): it is handled the same. The follow-up is sent once at most, whatever
retries happen; if the call back fails too, the chain-depth guard
(``RECEIVER_FOLLOW_UP_MAX_DEPTH``) ends the series.
"""

from __future__ import annotations

import os
import time

from receiver import Drop, HandlerContext, Router
from receiver.events import Event, PhoneCallDidNotConnectEvent, PhoneCallEndedEvent

router = Router("callback")


def _statuses() -> set[str]:
    return set(os.environ.get("CALLBACK_STATUSES", "no-answer,busy").split(","))


def _retryable(event: PhoneCallDidNotConnectEvent) -> bool:
    return event.payload.telephony_status in _statuses()


@router.on(
    "event_phone_call_did_not_connect", when=_retryable, max_attempts=6, timeout=20, enrich=True
)
async def call_back(event: PhoneCallDidNotConnectEvent, ctx: HandlerContext) -> None:
    """Ask for one follow-up call to the same person, with the same agent, after a delay."""
    await _call_back(event, ctx, reason="did_not_connect")


@router.on("event_phone_call_ended", max_attempts=6, timeout=20, enrich=True)
async def call_back_unanswered(event: PhoneCallEndedEvent, ctx: HandlerContext) -> None:
    """An ended call that no human answered: call back as for one that did not connect."""
    if ctx.call is not None and ctx.call.human_detection_result == "no_human":
        await _call_back(event, ctx, reason="no_human")


async def _call_back(event: Event, ctx: HandlerContext, *, reason: str) -> None:
    agent = os.environ.get("CALLBACK_AGENT")
    from_number = os.environ.get("CALLBACK_FROM_NUMBER")
    if not agent or not from_number:
        raise Drop("CALLBACK_AGENT and CALLBACK_FROM_NUMBER must be set")
    if ctx.call is None or not ctx.call.to_number:
        raise Drop("the Vocode API does not know the call, or it has no to_number")
    delay = float(os.environ.get("CALLBACK_DELAY_SECONDS", "3600"))
    await ctx.follow_up(
        to_number=ctx.call.to_number,
        from_number=from_number,
        agent=agent,
        context={"callback_of": event.call_id, "callback_reason": reason},
        not_before=time.time() + delay,
        on_no_human_answer="hangup",
    )
    ctx.log.info("callback_scheduled", in_seconds=delay, reason=reason)
