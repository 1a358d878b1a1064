"""The handler of the follow-up fault matrix: one call back per call that did not connect.

Copied beside the code under test as ``reliability_handlers`` and loaded by the suite's
receiver as ``RECEIVER_HANDLERS=reliability_handlers:router``; each call id ends in its
number's digits, so every intent dials a number of its own.
"""

from __future__ import annotations

from receiver import HandlerContext, Router
from receiver.events import PhoneCallDidNotConnectEvent

router = Router("reliability")
AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"


@router.on("event_phone_call_did_not_connect")
async def call_back(event: PhoneCallDidNotConnectEvent, ctx: HandlerContext) -> None:
    """Ask for one call to this call's own number."""
    n = int(event.call_id.rsplit("-", 1)[-1])
    ctx.follow_up(to_number=f"+1555{n:07d}", from_number="+15555550199", agent=AGENT)
