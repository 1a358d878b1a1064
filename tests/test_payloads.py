"""The self-hosted library's events (vocode 0.1.113), built from its published field names,
posted flat (as the library sends them) and in the hosted envelope: typed, never quarantined.

Field names: ``vocode/streaming/models/events.py`` (``Event.conversation_id``, the phone call,
recording and action events) and ``transcript.py`` (``TranscriptEvent``: ``text``, ``sender``,
``timestamp``; ``TranscriptCompleteEvent.transcript``: ``event_logs`` of ``Message``,
``ActionStart``, ``ActionFinish``, ``ConferenceEvent``, and ``start_time``). A ``TypedModel``
serialises its ``type`` first, then its fields.
"""

from __future__ import annotations

from typing import Any

import pytest

from receiver.events import (
    ActionFinishLog,
    ActionStartLog,
    ConferenceLog,
    Line,
    MessageLog,
    TranscriptCompleteEvent,
    TranscriptEvent,
    parse_event,
)

CONVERSATION = "b2c9e3a0-5f4d-4e21-9a7c-0d3e6f1b2a48"
ACTION_INPUT = {
    "action_config": {
        "type": "action_transfer_call",
        "action_trigger": {"type": "action_trigger_function_call", "config": {}},
        "phone_number": "+15555550142",
    },
    "conversation_id": CONVERSATION,
    "params": {},
    "user_message_tracker": None,
}
ACTION_OUTPUT = {
    "action_type": "action_transfer_call",
    "canned_response": None,
    "response": {"success": True},
}
EVENT_LOGS = [
    {"sender": "bot", "timestamp": 1.5, "text": "Hi, Dana?", "is_final": True,
     "is_backchannel": False, "is_end_of_turn": True},
    {"sender": "human", "timestamp": 3.0, "text": "Yes.", "is_final": False,
     "is_backchannel": False, "is_end_of_turn": False},
    {"sender": "action_worker", "timestamp": 4.0, "action_type": "action_transfer_call",
     "action_input": ACTION_INPUT},
    {"sender": "action_worker", "timestamp": 5.0, "action_type": "action_transfer_call",
     "action_input": ACTION_INPUT, "action_output": ACTION_OUTPUT},
    {"sender": "conference", "timestamp": 6.0, "conference_event_type": "participant_joined",
     "conference_event_role": "transfer", "participant_phone_number": "+15555550142"},
]  # fmt: skip
LIBRARY_EVENTS: dict[str, dict[str, Any]] = {
    "event_transcript": {"text": "Yes, this is Dana.", "sender": "human", "timestamp": 3.25},
    "event_transcript_complete": {
        "transcript": {"event_logs": EVENT_LOGS, "start_time": 1.0, "events_manager": None}
    },
    "event_phone_call_connected": {
        "to_phone_number": "+15555550123", "from_phone_number": "+15555550199"
    },
    "event_phone_call_ended": {"conversation_minutes": 0},
    "event_phone_call_did_not_connect": {"telephony_status": "busy"},
    "event_recording": {"recording_url": "https://example.com/r.wav"},
    "event_action": {"action_input": ACTION_INPUT, "action_output": None},
}  # fmt: skip


def flat(kind: str) -> dict[str, Any]:
    """The event as the library posts it: ``type``, ``conversation_id``, its fields."""
    return {"type": kind, "conversation_id": CONVERSATION, **LIBRARY_EVENTS[kind]}


def hosted(kind: str) -> dict[str, Any]:
    """The same fields in the hosted envelope."""
    return {"type": kind, "call_id": CONVERSATION, "payload": LIBRARY_EVENTS[kind]}


@pytest.mark.parametrize("kind", LIBRARY_EVENTS)
async def test_library_events_are_stored_typed_in_both_shapes(client, hook, app, kind) -> None:
    """Flat: 202, typed, not quarantined; hosted: the same event, answered as a duplicate."""
    first = await client.post(hook, json=flat(kind))
    assert first.status_code == 202 and first.json() == {"id": first.json()["id"]}
    record = await app.state.services.store.get_event(first.json()["id"])
    assert (record.type, record.call_id, record.quarantined) == (kind, CONVERSATION, False)
    event = parse_event(record.envelope)
    assert type(event) is type(parse_event(flat(kind))) is type(parse_event(hosted(kind)))
    second = await client.post(hook, json=hosted(kind))
    assert second.json() == {"id": first.json()["id"], "duplicate": True}


def test_an_utterance_and_a_whole_transcript_say_which_they_are(sample) -> None:
    """One model for event_transcript: ``shape`` and ``lines`` tell the two apart."""
    utterance = parse_event(flat("event_transcript"))
    whole = parse_event(sample("event_transcript"))
    assert isinstance(utterance, TranscriptEvent) and isinstance(whole, TranscriptEvent)
    assert utterance.payload.shape == "utterance" and whole.payload.shape == "transcript"
    assert utterance.payload.lines == [Line("human", "Yes, this is Dana.")]
    assert utterance.payload.timestamp == 3.25 and utterance.payload.transcript is None
    assert whole.payload.lines[:2] == [
        Line("bot", "Hi, this is Alex calling from Example Dental. Am I speaking with Dana?"),
        Line("human", "Yes, this is Dana. What is this about?"),
    ]


def test_transcript_complete_types_each_event_log() -> None:
    """Each event log is read as the kind it is; the messages make the lines."""
    event = parse_event(flat("event_transcript_complete"))
    assert isinstance(event, TranscriptCompleteEvent)
    transcript = event.payload.transcript
    kinds = [type(log) for log in transcript.event_logs]
    assert kinds == [MessageLog, MessageLog, ActionStartLog, ActionFinishLog, ConferenceLog]
    assert [log.kind for log in transcript.event_logs] == [
        "message", "message", "action_start", "action_finish", "conference"
    ]  # fmt: skip
    assert transcript.lines == [Line("bot", "Hi, Dana?"), Line("human", "Yes.")]
    assert transcript.event_logs[3].action_output == ACTION_OUTPUT
    assert transcript.start_time == 1.0


def test_an_unknown_sender_and_event_log_are_kept() -> None:
    """A sender or an event log kind the library adds later is kept, not refused."""
    body = flat("event_transcript_complete")
    body["transcript"] = {"event_logs": [{"sender": "supervisor", "note": "x"}]}
    [log] = parse_event(body).payload.transcript.event_logs
    assert (log.kind, log.sender, log.model_extra) == ("other", "supervisor", {"note": "x"})
