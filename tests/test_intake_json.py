"""The JSON intake writes: byte for byte what ``json.dumps`` gives, however it is produced."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from receiver.events import parse_event
from receiver.intake.dedup import canonical, new_event_id
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
    assert canonical(dumped["payload"]) == _reference(dumped["payload"])
    assert canonical(dumped) == _reference(dumped)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_canonical_json_refuses_what_is_not_json(value: float) -> None:
    """A float that is not finite cannot become stored JSON: encoding it raises ValueError."""
    dumped = parse_event({**ODD, "extra": {"a": value}}).model_dump(mode="json")
    with pytest.raises(ValueError):
        canonical(dumped)


_TEXT = '\u00e9\U0001f600\u2028\x7f\x1f\\"'  # é, an emoji, LINE SEPARATOR, DEL, US, \, "
PINNED = [  # the bytes stored dedup keys are digests of: any other encoder must give these
    ({"b": 1, "a": _TEXT}, '{"a":"\u00e9\U0001f600\u2028\x7f\\u001f\\\\\\"","b":1}'),
    (
        [1e16, 1e-07, 1.5e-05, 0.0001, -0.0, 1.0, 5e-324],
        "[1e+16,1e-07,1.5e-05,0.0001,-0.0,1.0,5e-324]",
    ),
    ([2**64, -(2**63) - 1], "[18446744073709551616,-9223372036854775809]"),
]


@pytest.mark.parametrize(("value", "expected"), PINNED)
def test_canonical_bytes_are_pinned(value: Any, expected: str) -> None:
    """Floats as repr() writes them, text unescaped but for what JSON must escape, big
    integers whole: the exact bytes of every dedup key already stored."""
    assert canonical(value) == expected


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
