"""The shipped default handler puts a safe summary of each event on its delivery's line, and
nothing a caller said."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from handlers.log import router
from receiver.events import EVENT_TYPES
from receiver.testing import make_event, run, sample


@pytest.mark.parametrize("event_type", EVENT_TYPES)
async def test_logs_a_safe_summary_of_every_event(event_type: str) -> None:
    """Each event's summary, without text, transcript, URL or phone number, becomes notes of
    its delivery, and the handler logs no line of its own."""
    event = make_event(event_type)
    with capture_logs() as logs:
        [outcome] = await run(router, event)
    assert outcome.status == "done"
    assert logs == []
    assert "type" not in outcome.notes  # the delivery_finished line has it
    rendered = json.dumps(outcome.notes)
    payload = sample(event_type)["payload"]
    for key in ("text", "transcript", "recording_url", "to_phone_number", "from_phone_number"):
        if isinstance(payload.get(key), str):
            assert payload[key] not in rendered
    assert "+1555555" not in rendered


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (make_event("event_transcript"), {"shape": "transcript", "transcript_lines": 5}),
        (
            make_event("event_transcript", transcript=None, text="Yes.", sender="human"),
            {"shape": "utterance", "transcript_lines": 1, "sender": "human"},
        ),
        (make_event("event_transcript_complete"), {"transcript_lines": 4, "event_logs": 6}),
    ],
    ids=["whole", "utterance", "complete"],
)
async def test_transcripts_are_counted_in_either_shape(event, expected) -> None:
    """A whole transcript, one utterance and the library's event logs each count their lines."""
    [outcome] = await run(router, event)
    notes = dict(outcome.notes)
    assert {key: notes[key] for key in expected} == expected
    assert "Yes." not in json.dumps(notes) and "Dana" not in json.dumps(notes)
