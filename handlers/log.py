"""A PII-safe log of every event, with what an operator needs and no content.

Its fields go on the delivery's own ``delivery_finished`` line (``ctx.annotate``): one line
per event and handler, not two.

Enabled by default (``RECEIVER_HANDLERS=handlers.log:router``). It logs the event's type and
call, a message's sender and length (never its text), a call's duration or status, and
whether a recording or transcript arrived (never the URL or the words).
"""

from __future__ import annotations

from typing import Any

from receiver.delivery.context import HandlerContext
from receiver.delivery.router import Router
from receiver.events import Event

router = Router("log")


def summary(event: Event) -> dict[str, Any]:
    """The fields of ``event`` that are safe to log."""
    payload = event.payload
    out: dict[str, Any] = {"type": event.type}
    if event.type == "event_message":
        out["sender"] = payload.sender
        out["text_chars"] = len(payload.text or "")
    elif event.type == "event_phone_call_ended":
        out["minutes"] = payload.conversation_minutes
    elif event.type == "event_phone_call_did_not_connect":
        out["telephony_status"] = payload.telephony_status
    elif event.type == "event_human_detection":
        out["result"] = payload.result
    elif event.type == "event_transcript":
        out["shape"] = payload.shape  # the whole transcript, or one utterance
        out["transcript_lines"] = len(payload.lines)
        if payload.shape == "utterance":
            out["sender"] = payload.sender
    elif event.type == "event_transcript_complete":
        out["transcript_lines"] = len(payload.transcript.lines)
        out["event_logs"] = len(payload.transcript.event_logs)
    elif event.type == "event_recording":
        out["recording_url_present"] = payload.recording_url is not None
    elif event.type == "event_action":
        config = (payload.action_input.action_config or {}) if payload.action_input else {}
        out["action"] = config.get("type")
        out["finished"] = payload.action_output is not None
    return out


@router.on("*", max_attempts=3, timeout=5, ordered=False)
async def events(event: Event, ctx: HandlerContext) -> None:
    """The event's safe summary, on its ``delivery_finished`` line."""
    fields = summary(event)
    del fields["type"]  # the line has it already
    ctx.annotate(**fields)
