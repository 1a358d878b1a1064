"""The terminal event Vocode would have sent for a call, made from the call's state.

A ``Call`` (``GET /v1/calls?id=``) that is ``ended`` or in ``error`` is over. It did not
connect when its stage outcome says so, or when it never got past ``created``; else it
ended. The event has the type's own payload fields (``conversation_minutes`` from the
call's start and end; ``telephony_status`` from the telephony metadata's ``call_status``),
then what the Call says: ``status``, ``stage``, ``stage_outcome``, ``transcript``,
``recording_available``. It is marked ``synthesized`` with its source, and its dedup key is
the one a real event of that type and call has (:func:`~receiver.intake.dedup.terminal_key`).

Example::

    kind = terminal_type(call)          # None while the call goes on
    envelope = terminal_envelope(call, kind, now=time.time())
"""

from __future__ import annotations

import json
from typing import Any

from receiver.events import TERMINAL_STAGES, Event, validate
from receiver.intake.dedup import canonical, new_event_id, terminal_key
from receiver.store.records import NewEvent
from receiver.vocode.models import Call

ENDED = "event_phone_call_ended"
DID_NOT_CONNECT = "event_phone_call_did_not_connect"
SOURCE = "GET /v1/calls"
METHOD = "RECONCILE"
"""The ``method`` a synthesised event is stored with: no HTTP request brought it."""
_OVER = ("ended", "error")
_NOT_A_FAILURE = ("completed", "in-progress", "ringing", "queued", "initiated")


def terminal_type(call: Call) -> str | None:
    """The terminal event ``call``'s state stands for, or None while it goes on."""
    if call.status not in _OVER:
        return None
    if call.stage_outcome == "call_did_not_connect" or call.stage == "created":
        return DID_NOT_CONNECT
    if call.stage is None and call.status == "error":  # no stage reported: it never began
        return DID_NOT_CONNECT
    return ENDED


def stage_of(call: Call) -> str | None:
    """The receiver's stage of a call the API reports (None: as it was)."""
    kind = terminal_type(call)
    if kind is not None:
        return TERMINAL_STAGES[kind]
    if call.stage not in (None, "created") or call.status == "in_progress":
        return "connected"
    return None


def _minutes(call: Call) -> float | None:
    if call.start_time is None or call.end_time is None:
        return None
    return round((call.end_time - call.start_time).total_seconds() / 60, 2)


def _telephony_status(call: Call) -> str | None:
    status = (call.telephony_metadata or {}).get("call_status")
    return status if isinstance(status, str) and status not in _NOT_A_FAILURE else None


def terminal_payload(call: Call, kind: str) -> dict[str, Any]:
    """The payload of ``kind`` for ``call``: the type's fields, then the Call's facts."""
    own: dict[str, Any] = (
        {"conversation_minutes": _minutes(call)}
        if kind == ENDED
        else {"telephony_status": _telephony_status(call)}
    )
    return {
        **own,
        "status": call.status,
        "stage": call.stage,
        "stage_outcome": call.stage_outcome,
        "transcript": call.transcript,
        "recording_available": call.recording_available,
    }


def terminal_envelope(call: Call, kind: str, *, now: float) -> dict[str, Any]:
    """The hosted envelope of the synthesised event, marked with its source and time."""
    return {
        "type": kind,
        "call_id": call.id,
        "payload": terminal_payload(call, kind),
        "synthesized": {"source": SOURCE, "at": now},
    }


def terminal_event(
    call: Call, kind: str, *, now: float, route: Any
) -> tuple[NewEvent, Event]:
    """The event to store (routed by ``route``, as intake routes), and its typed model."""
    envelope = terminal_envelope(call, kind, now=now)
    event = validate(envelope, stored=True)
    stored = NewEvent(
        id=new_event_id(),
        dedup_key=terminal_key(kind, call.id),
        type=kind,
        call_id=call.id,
        received_at=now,
        method=METHOD,
        headers=json.dumps({}),
        envelope=canonical(envelope),
        raw=call.model_dump_json().encode(),  # the Call the facts came from, as read
        handlers=tuple(route(event)),
    )
    return stored, event
