"""The shipped default handler logs one line per event and nothing a caller said."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from handlers.log import router
from receiver.events import EVENT_TYPES
from receiver.testing import make_event, run, sample


@pytest.mark.parametrize("event_type", EVENT_TYPES)
async def test_logs_a_safe_summary_of_every_event(event_type: str) -> None:
    """Each event gives one `call_event` line without text, transcript, URL or phone number."""
    event = make_event(event_type)
    with capture_logs() as logs:
        [outcome] = await run(router, event)
    assert outcome.status == "done"
    [line] = [entry for entry in logs if entry["event"] == "call_event"]
    assert line["type"] == event_type
    rendered = json.dumps(line)
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
    with capture_logs() as logs:
        await run(router, event)
    [line] = [entry for entry in logs if entry["event"] == "call_event"]
    assert {key: line[key] for key in expected} == expected
    assert "Yes." not in json.dumps(line) and "Dana" not in json.dumps(line)
