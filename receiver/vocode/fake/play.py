"""The life of one call as the webhooks Vocode would deliver, in the hosted envelope.

A connected call: ``event_phone_call_connected``, ``event_message`` n times (bot and human in
turn), ``event_phone_call_ended``, ``event_transcript``, ``event_recording``. One that no
human answered (a machine did): ``event_phone_call_connected``, ``event_human_detection``
(``no_human``), ``event_phone_call_ended``. A call that did not connect: one
``event_phone_call_did_not_connect``.

Example::

    events = call_life(call_id="c1", to_number="+15555550123", from_number="+15555550199")
    result = post_events("http://127.0.0.1:8000/webhooks/vocode/TOKEN", "c1", events)
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from receiver.events import EVENT_TYPES
from receiver.vocode.fake.samples import load_sample
from receiver.vocode.fake.state import FakeState

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
    dropped: list[dict[str, Any]] = field(default_factory=list)  # bodies not posted, in order

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
    human: bool = True,
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
    if not human:
        minutes = round(SECONDS_PER_MESSAGE / 60, 2)
        return [
            *events,
            _envelope("event_human_detection", call_id, {"result": "no_human"}),
            _envelope("event_phone_call_ended", call_id, {"conversation_minutes": minutes}),
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
    dropped: list[dict[str, Any]] | None = None,
) -> PlayResult:
    """POST each body to ``url`` in order; a failed delivery does not stop the rest.
    ``dropped``: the bodies left out, listed in the result (to post later, or never)."""
    result = PlayResult(call_id, dropped=list(dropped or ()))
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
    dropped: list[dict[str, Any]] | None = None,
) -> PlayResult:
    """:func:`post_events` for an event loop."""
    result = PlayResult(call_id, dropped=list(dropped or ()))
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as http:
        for body in events:
            try:
                response = await http.post(url, json=body)
                result.deliveries.append(_delivery(body["type"], response))
            except httpx.HTTPError as exc:
                result.deliveries.append(Delivery(body["type"], None, error=repr(exc)))
    return result


class PlayRequest(BaseModel):
    """What to play: a call's webhooks, posted to ``url``. Unset numbers come from the
    fake's record of ``call_id`` when it has one, else from the samples. ``human`` False:
    a machine answered (no human detected). ``drop``: event types not posted, as if Vocode
    had lost them (the call's state still says how it ended)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    call_id: str | None = None
    to_number: str | None = None
    from_number: str | None = None
    n_messages: int = Field(4, ge=0, le=1000)
    did_not_connect: bool = False
    telephony_status: str = "no-answer"
    human: bool = True
    drop: list[str] = Field(default_factory=list)
    headers: dict[str, str] | None = None

    @field_validator("drop")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}")
        return value


def plan_play(
    state: FakeState, req: PlayRequest
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """The call id, the webhook bodies to post and those dropped, for ``req``. The call is
    known to the fake from then on (``GET /v1/calls?id=``), in the state it ended in."""
    call_id = req.call_id or str(uuid.uuid4())
    known = state.call_record(call_id)
    seed = load_sample("event_phone_call_connected")["payload"]
    to_number = req.to_number or (known or {}).get("to_number") or seed["to_phone_number"]
    from_number = (
        req.from_number or (known or {}).get("from_number") or seed["from_phone_number"]
    )
    if known is None:
        state.played(call_id, to_number, from_number)
    start = time.time()
    events = call_life(
        call_id=call_id,
        to_number=to_number,
        from_number=from_number,
        n_messages=req.n_messages,
        connected=not req.did_not_connect,
        telephony_status=req.telephony_status,
        start=start,
        human=req.human,
    )
    state.update_call(call_id, **_final_state(state, call_id, req, events, start))
    posted = [e for e in events if e["type"] not in req.drop]
    return call_id, posted, [e for e in events if e["type"] in req.drop]


def _final_state(
    state: FakeState, call_id: str, req: PlayRequest, events: list[dict[str, Any]], start: float
) -> dict[str, Any]:
    """How the played call ended, as ``GET /v1/calls`` reports it."""
    record = state.call_record(call_id) or {}
    metadata = dict(record.get("telephony_metadata") or {})
    if req.did_not_connect:
        metadata["call_status"] = req.telephony_status
        return {
            "status": "error", "stage_outcome": "call_did_not_connect", "end_time": start,
            "telephony_metadata": metadata,
        }  # fmt: skip
    metadata["call_status"] = "completed"
    ended: dict[str, Any] = {
        "status": "ended", "stage": "picked_up", "start_time": start,
        "telephony_metadata": metadata,
    }  # fmt: skip
    if not req.human:
        return {
            **ended, "human_detection_result": "no_human", "stage_outcome": "human_unanswered",
            "end_time": start + SECONDS_PER_MESSAGE,
        }  # fmt: skip
    transcript = next(e for e in events if e["type"] == "event_transcript")
    return {
        **ended,
        "human_detection_result": "human",
        "transcript": transcript["payload"]["transcript"],
        "recording_available": not record.get("hipaa_compliant"),
        "end_time": start + (req.n_messages + 1) * SECONDS_PER_MESSAGE,
    }
