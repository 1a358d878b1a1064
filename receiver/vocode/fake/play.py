"""The life of one call as the webhooks Vocode would deliver, in the hosted envelope.

A connected call: ``event_phone_call_connected``, ``event_message`` n times (bot and human in
turn), ``event_phone_call_ended``, ``event_transcript``, ``event_recording``. A call that
did not connect: one ``event_phone_call_did_not_connect``.

Example::

    events = call_life(call_id="c1", to_number="+15555550123", from_number="+15555550199")
    result = post_events("http://127.0.0.1:8000/webhooks/vocode/TOKEN", "c1", events)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

LINES = (
    ("bot", "Hi, this is Alex calling from Example Dental. Am I speaking with Dana?"),
    ("human", "Yes, this is Dana. What is this about?"),
    ("bot", "I'm calling to confirm your cleaning appointment on Thursday at 10:30am."),
    ("human", "Yes, that works."),
    ("bot", "Great, you're all set. Have a nice day!"),
    ("human", "Thanks, bye."),
)
SECONDS_PER_MESSAGE = 4.0


@dataclass(frozen=True)
class Delivery:
    """One posted webhook: its type and the receiver's status and answer (or the error)."""

    type: str
    status: int | None
    answer: Any = None
    error: str | None = None


@dataclass(frozen=True)
class PlayResult:
    """What :func:`post_events` did: the call id and one :class:`Delivery` per event."""

    call_id: str
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(d.status is not None and d.status < 300 for d in self.deliveries)

    def as_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "ok": self.ok, **asdict(self)}


def _envelope(type_: str, call_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, "call_id": call_id, "payload": payload}


def call_life(
    *,
    call_id: str,
    to_number: str,
    from_number: str,
    n_messages: int = 4,
    connected: bool = True,
    telephony_status: str = "no-answer",
    start: float | None = None,
) -> list[dict[str, Any]]:
    """The bodies Vocode would post for one call, in the order it would post them."""
    if not connected:
        status = {"telephony_status": telephony_status}
        return [_envelope("event_phone_call_did_not_connect", call_id, status)]
    start = time.time() if start is None else start
    events = [
        _envelope(
            "event_phone_call_connected",
            call_id,
            {"to_phone_number": to_number, "from_phone_number": from_number},
        )
    ]
    transcript = []
    for i in range(n_messages):
        sender, text = LINES[i % len(LINES)]
        payload: dict[str, Any] = {
            "sender": sender, "text": text, "timestamp": start + i * SECONDS_PER_MESSAGE
        }
        events.append(_envelope("event_message", call_id, payload))
        transcript.append(f"{sender.upper()}: {text}")
    minutes = round((n_messages + 1) * SECONDS_PER_MESSAGE / 60, 2)
    events += [
        _envelope("event_phone_call_ended", call_id, {"conversation_minutes": minutes}),
        _envelope("event_transcript", call_id, {"transcript": "\n".join(transcript)}),
        _envelope(
            "event_recording",
            call_id,
            {"recording_url": f"https://recordings.example.com/{call_id}.wav"},
        ),
    ]
    return events


def _delivery(type_: str, response: httpx.Response) -> Delivery:
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    return Delivery(type_, response.status_code, answer)


def post_events(
    url: str,
    call_id: str,
    events: list[dict[str, Any]],
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> PlayResult:
    """POST each body to ``url`` in order; a failed delivery does not stop the rest."""
    result = PlayResult(call_id)
    with httpx.Client(timeout=timeout, headers=headers) as http:
        for body in events:
            try:
                result.deliveries.append(_delivery(body["type"], http.post(url, json=body)))
            except httpx.HTTPError as exc:
                result.deliveries.append(Delivery(body["type"], None, error=repr(exc)))
    return result


async def post_events_async(
    url: str,
    call_id: str,
    events: list[dict[str, Any]],
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> PlayResult:
    """:func:`post_events` for an event loop."""
    result = PlayResult(call_id)
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as http:
        for body in events:
            try:
                response = await http.post(url, json=body)
                result.deliveries.append(_delivery(body["type"], response))
            except httpx.HTTPError as exc:
                result.deliveries.append(Delivery(body["type"], None, error=repr(exc)))
    return result
