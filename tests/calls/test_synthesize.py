"""What the state of a Call says: whether it is over, which terminal event it stands for,
and that event's payload."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from receiver.calls.synthesize import (
    DID_NOT_CONNECT,
    ENDED,
    stage_of,
    terminal_envelope,
    terminal_event,
    terminal_type,
)
from receiver.intake.dedup import terminal_key
from receiver.vocode.models import Call


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"status": "not_started", "stage": "created"}, None),
        ({"status": "in_progress", "stage": "picked_up"}, None),
        ({"status": "ended", "stage": "picked_up"}, ENDED),
        ({"status": "ended"}, ENDED),  # no stage reported
        ({"status": "error", "stage": "picked_up"}, ENDED),  # dropped mid-call
        ({"status": "error", "stage_outcome": "call_did_not_connect"}, DID_NOT_CONNECT),
        ({"status": "ended", "stage": "created"}, DID_NOT_CONNECT),  # never picked up
        ({"status": "error"}, DID_NOT_CONNECT),
        ({"status": "voicemail"}, None),  # a status this version does not know: not over
    ],
)
def test_which_terminal_event_a_call_stands_for(fields, kind) -> None:
    """ended/error are over; a call never picked up did not connect; else it ended."""
    assert terminal_type(Call(id="c1", **fields)) == kind


def test_stages() -> None:
    """The receiver's stage of a call the API reports."""
    assert stage_of(Call(id="c", status="not_started", stage="created")) is None
    assert stage_of(Call(id="c", status="in_progress", stage="picked_up")) == "connected"
    assert stage_of(Call(id="c", status="ended", stage="picked_up")) == "ended"
    assert stage_of(Call(id="c", status="error", stage="created")) == "did_not_connect"


def test_the_ended_payload_holds_the_type_fields_then_the_calls() -> None:
    """conversation_minutes from the times; status, stage, outcome, transcript, recording."""
    call = Call(
        id="c1", status="ended", stage="picked_up", stage_outcome="bot_disconnected",
        transcript="BOT: hi", recording_available=True,
        start_time=datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
        end_time=datetime(2026, 1, 1, 10, 2, 30, tzinfo=UTC),
    )  # fmt: skip
    envelope = terminal_envelope(call, ENDED, now=5.0)
    assert envelope == {
        "type": ENDED,
        "call_id": "c1",
        "payload": {
            "conversation_minutes": 2.5, "status": "ended", "stage": "picked_up",
            "stage_outcome": "bot_disconnected", "transcript": "BOT: hi",
            "recording_available": True,
        },
        "synthesized": {"source": "GET /v1/calls", "at": 5.0},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("metadata", "status"),
    [
        ({"call_status": "no-answer"}, "no-answer"),
        ({"call_status": "busy"}, "busy"),
        ({"call_status": "completed"}, None),
        (None, None),
    ],
)
def test_the_telephony_status_comes_from_the_metadata(metadata, status) -> None:
    """A did-not-connect's telephony_status is the telephony metadata's failed call status."""
    call = Call(id="c1", status="error", stage="created", telephony_metadata=metadata)
    payload = terminal_envelope(call, DID_NOT_CONNECT, now=1.0)["payload"]
    assert payload["telephony_status"] == status


def test_the_event_is_keyed_as_the_real_one_and_routed() -> None:
    """The stored event has the terminal key, the RECONCILE method, the Call as raw, and the
    handlers route() names for its typed model."""
    call = Call(id="c1", status="ended", stage="picked_up")
    def route(event) -> tuple[str, ...]:  # a `when` sees the typed, marked event
        return ("t.h",) if event.synthesized and event.payload.status == "ended" else ()

    stored, event = terminal_event(call, ENDED, now=1.0, route=route)
    assert stored.dedup_key == terminal_key(ENDED, "c1")
    assert (stored.method, stored.handlers, stored.received_at) == ("RECONCILE", ("t.h",), 1.0)
    assert Call.model_validate_json(stored.raw) == call
    assert event.synthesized.source == "GET /v1/calls"
