"""A handler for the tracing tests (imported as ``fixture_trace_handlers``): when a call did
not connect it asks for a call back. In a process whose ``TRACE_FIXTURE_ROLE`` is ``serve``
it asks for a retry instead, so that the run that succeeds is another process's."""

from __future__ import annotations

import os

from receiver import HandlerContext, Retry, Router
from receiver.events import Event

router = Router("trace")
AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"


@router.on("event_phone_call_did_not_connect", max_attempts=100)
async def call_back(event: Event, ctx: HandlerContext) -> None:
    if os.environ.get("TRACE_FIXTURE_ROLE") == "serve":
        raise Retry(after=0.05)
    await ctx.follow_up(to_number="(555) 555-0123", from_number="+15555550199", agent=AGENT)
