"""Call back a number whose call did not connect — the model follow-up handler for teams.

Enable it with ``RECEIVER_HANDLERS=handlers.log:router,handlers.callback:router`` and set:

- ``CALLBACK_AGENT``: the Vocode agent id to call with (the same agent as the first call);
- ``CALLBACK_FROM_NUMBER``: one of the account's numbers;
- ``CALLBACK_DELAY_SECONDS``: how long to wait before calling back (default 3600);
- ``CALLBACK_STATUSES``: which telephony statuses earn a call back (default ``no-answer,busy``).

A call that did not connect sends no ``event_phone_call_connected``, so the event carries no
number: the handler looks the call up with ``ctx.vocode.get_call``. The follow-up it asks for
is sent once at most, whatever retries happen; if the call back does not connect either, the
chain-depth guard (``RECEIVER_FOLLOW_UP_MAX_DEPTH``) ends the series.
"""

from __future__ import annotations

import os
import time

from receiver import Drop, HandlerContext, Retry, Router
from receiver.errors import VocodeError
from receiver.events import PhoneCallDidNotConnectEvent

router = Router("callback")


def _statuses() -> set[str]:
    return set(os.environ.get("CALLBACK_STATUSES", "no-answer,busy").split(","))


def _retryable(event: PhoneCallDidNotConnectEvent) -> bool:
    return event.payload.telephony_status in _statuses()


@router.on("event_phone_call_did_not_connect", when=_retryable, max_attempts=6, timeout=20)
async def call_back(event: PhoneCallDidNotConnectEvent, ctx: HandlerContext) -> None:
    """Ask for one follow-up call to the same person, with the same agent, after a delay."""
    agent = os.environ.get("CALLBACK_AGENT")
    from_number = os.environ.get("CALLBACK_FROM_NUMBER")
    if not agent or not from_number:
        raise Drop("CALLBACK_AGENT and CALLBACK_FROM_NUMBER must be set")
    if ctx.vocode is None:
        raise Drop("RECEIVER_VOCODE_API_KEY is not set: cannot look the call up")
    try:
        call = await ctx.vocode.get_call(event.call_id)
    except VocodeError as exc:
        raise Retry(reason=f"cannot look the call up: {exc}") from exc
    if not call.to_number:
        raise Drop("the call has no to_number")
    delay = float(os.environ.get("CALLBACK_DELAY_SECONDS", "3600"))
    await ctx.follow_up(
        to_number=call.to_number,
        from_number=from_number,
        agent=agent,
        context={"callback_of": event.call_id},
        not_before=time.time() + delay,
        on_no_human_answer="hangup",
    )
    ctx.log.info("callback_scheduled", in_seconds=delay)
