"""What the console tests share besides fixtures: the operator token and signing in."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

OPERATOR = "operator-token-0123456789abcdef"  # an operator (console) token, not a webhook token


async def sign_in(client: httpx.AsyncClient, token: str = OPERATOR) -> str:
    """Open a session as a browser does (``?token=``); answer the session's CSRF token."""
    response = await client.get("/console/", params={"token": token})
    assert response.status_code == 303, response.text
    page = await client.get("/console/do-not-call")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found[1]


def post_event(client: httpx.AsyncClient, token: str, envelope: dict[str, Any]) -> Any:
    """Post an envelope to the webhook endpoint (an awaitable response)."""
    return client.post(f"/webhooks/vocode/{token}", json=envelope)


AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
CUSTOMER = "+15555550123"
T0 = 1_780_000_000.0


def call_envelopes(call_id: str) -> list[dict[str, Any]]:
    """A connected call, as Vocode posts it: connected, two messages, ended, transcript,
    recording."""
    return [
        {"type": "event_phone_call_connected", "call_id": call_id,
         "payload": {"to_phone_number": CUSTOMER, "from_phone_number": "+15555550199"}},
        {"type": "event_message", "call_id": call_id,
         "payload": {"sender": "bot", "text": "Hi, this is Alex from Example Dental.",
                     "timestamp": T0 + 1}},
        {"type": "event_message", "call_id": call_id,
         "payload": {"sender": "human", "text": "Please call me back tomorrow",
                     "timestamp": T0 + 2}},
        {"type": "event_phone_call_ended", "call_id": call_id,
         "payload": {"conversation_minutes": 1.5}},
        {"type": "event_transcript", "call_id": call_id,
         "payload": {"transcript": "BOT: Hi, this is Alex.\nHUMAN: Please call me back tomorrow"}},
        {"type": "event_recording", "call_id": call_id,
         "payload": {"recording_url": "https://recordings.example/rec-1.wav"}},
    ]  # fmt: skip


async def seed_call(store: Any, call_id: str, handler: str = "crm.save") -> list[str]:
    """Store a call's events with one delivery each for ``handler``, then run them as a
    handler would: the second message's delivery dead (its error names the number), the
    end's done with a follow-up intent to the customer; answer the event ids in order."""
    from receiver.follow_ups.intent import FollowUpRequest
    from receiver.store.records import Finish, NewEvent

    ids = []
    for n, envelope in enumerate(call_envelopes(call_id)):
        body = json.dumps(envelope)
        event = NewEvent(
            id=f"evt_{call_id}_{n}", dedup_key=f"{call_id}:{n}", type=envelope["type"],
            call_id=call_id, received_at=T0 + n, method="POST",
            headers=json.dumps({"user-agent": "vocode"}), envelope=body, raw=body.encode(),
            handlers=(handler,),
        )  # fmt: skip
        ids.append((await store.add_event(event)).id)
    claimed = await store.claim({handler: 100}, frozenset(), {handler: 60.0})
    for c in claimed:
        if c.event_id == ids[2]:
            await store.finish(
                Finish(c.id, c.attempt, "dead", error=f"CRM answered 500 for {CUSTOMER}")
            )
            continue
        follow_ups = ()
        if c.event_id == ids[3]:
            follow_ups = (FollowUpRequest(
                f"{c.event_id}/{handler}/1", call_id, CUSTOMER, "+15555550199", AGENT,
                {"reason": "call back"}, T0, {},
            ),)  # fmt: skip
        await store.finish(Finish(c.id, c.attempt, "done", follow_ups=follow_ups))
    return ids
