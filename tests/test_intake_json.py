"""The JSON intake writes: byte for byte what ``json.dumps`` gives, however it is produced."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from receiver.events import parse_event
from receiver.intake.dedup import canonical, envelope_json, new_event_id
from receiver.intake.endpoint import _answer_body
from receiver.intake.headers import SECRET_HEADERS, StoredHeaders

SAMPLES = sorted((resources.files("receiver") / "samples").iterdir(), key=lambda e: e.name)
ODD = {
    "type": "event_message",
    "call_id": 'c\u00e9"\\\n\u2028',
    "payload": {"text": "h\u00e9llo \U0001f600", "timestamp": 1e16, "n": [1, 2.5, None, True]},
}


def _reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    "body",
    [
        *(json.loads(s.read_text()) for s in SAMPLES if s.name.startswith("event_")),
        ODD,
        {**ODD, "extra": {"b": 1, "a": 1e308}},
    ],
)
def test_stored_json_is_what_json_dumps_gives(body: dict[str, Any]) -> None:
    """Envelope and payload JSON equal json.dumps(sort_keys, compact, UTF-8): dedup keys hold."""
    dumped = parse_event(body).model_dump(mode="json")
    payload_json = canonical(dumped["payload"])
    assert payload_json == _reference(dumped["payload"])
    assert envelope_json(dumped, payload_json) == _reference(dumped)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_canonical_json_refuses_what_is_not_json(value: float) -> None:
    """A float that is not finite cannot become stored JSON: encoding it raises ValueError."""
    dumped = parse_event({**ODD, "extra": {"a": value}}).model_dump(mode="json")
    with pytest.raises(ValueError):
        canonical(dumped)


@pytest.mark.parametrize(
    "answer",
    [{"id": "evt_1"}, {"id": 'é"x'}, {"id": 1}, {"id": "a", "duplicate": True}, {"ignored": True}],
)
def test_answer_body_is_what_json_dumps_gives(answer: dict[str, Any]) -> None:
    """Every answer body equals json.dumps(answer), the fast {"id": ...} one included."""
    assert _answer_body(answer) == json.dumps(answer).encode()


def test_stored_headers_leave_out_secrets() -> None:
    """The headers kept with an event are every header but the secret ones, as JSON."""
    headers = [(b"host", b"h"), (b"authorization", b"Bearer s"), (b"x-\xe9", b"\xff")]
    stored_json = StoredHeaders([])
    assert json.loads(stored_json(headers)) == {"host": "h", "x-\xe9": "\xff"}
    assert not SECRET_HEADERS & set(json.loads(stored_json(headers)))


def test_event_ids_are_unique_and_time_ordered() -> None:
    """Event ids drawn in a row never repeat and sort in the order they were made."""
    ids = [new_event_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert [i[:17] for i in ids] == sorted(i[:17] for i in ids)
