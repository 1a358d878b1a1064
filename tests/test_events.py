"""The event models: one typed payload per type, both shapes, extra fields kept, frozen."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from receiver.events import (
    EVENT_MODELS,
    EVENT_TYPES,
    HOSTED_EVENT_TYPES,
    ActionEvent,
    HumanDetectionEvent,
    MessageEvent,
    MessagePayload,
    PhoneCallEndedEvent,
    UnknownEvent,
    normalise,
    parse_event,
)


def test_every_event_type_has_a_model_of_its_own() -> None:
    """The eight hosted types and the library's transcript_complete each have their model."""
    assert len(HOSTED_EVENT_TYPES) == 8
    assert (*HOSTED_EVENT_TYPES, "event_transcript_complete") == EVENT_TYPES
    assert set(EVENT_MODELS) == set(EVENT_TYPES)
    assert len(set(EVENT_MODELS.values())) == 9


def test_every_sample_parses_into_its_typed_model(event_sample) -> None:
    """Each example payload is parsed into the model of its type, fields typed and kept."""
    _, body = event_sample
    sent = json.loads(body)
    event = parse_event(sent)
    assert type(event) is EVENT_MODELS[sent["type"]]
    assert event.call_id == sent["call_id"]
    dumped = event.model_dump(mode="json")["payload"]
    assert without_none(dumped) == without_none(sent["payload"])


def without_none(value):
    """``value`` without the keys whose value is None, at every depth."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


def test_message_payload_fields_are_typed(sample) -> None:
    """A message's timestamp is a float and its text a string on the typed payload."""
    event = parse_event(sample("event_message"))
    assert isinstance(event, MessageEvent)
    assert isinstance(event.payload, MessagePayload)
    assert event.payload.timestamp == pytest.approx(1732620012.482)
    assert event.payload.sender == "human"


def test_action_input_is_typed(sample) -> None:
    """An action's input is a typed object carrying the conversation id."""
    event = parse_event(sample("event_action"))
    assert isinstance(event, ActionEvent)
    assert event.payload.action_input.conversation_id == event.call_id
    assert event.payload.action_output["response"] == {"success": True}


def test_numeric_strings_are_coerced() -> None:
    """Typed numbers accept their string form (GET deliveries carry only strings)."""
    event = parse_event(
        {
            "type": "event_phone_call_ended",
            "call_id": "c",
            "payload": {"conversation_minutes": "2.5"},
        }
    )
    assert isinstance(event, PhoneCallEndedEvent)
    assert event.payload.conversation_minutes == 2.5


def test_flat_self_hosted_shape_is_normalised() -> None:
    """``conversation_id`` and top-level fields become ``call_id`` and ``payload``."""
    flat = {"type": "event_message", "conversation_id": "conv", "text": "hi", "sender": "bot"}
    assert normalise(flat) == {
        "type": "event_message",
        "call_id": "conv",
        "payload": {"text": "hi", "sender": "bot"},
    }
    event = parse_event(flat)
    assert isinstance(event, MessageEvent)
    assert (event.call_id, event.payload.text) == ("conv", "hi")


def test_hosted_shape_with_conversation_id_is_accepted() -> None:
    """An envelope with ``payload`` but ``conversation_id`` instead of ``call_id`` is accepted."""
    event = parse_event(
        {"type": "event_human_detection", "conversation_id": "c1", "payload": {"result": "human"}}
    )
    assert event.call_id == "c1"


def test_call_id_wins_over_conversation_id_in_the_flat_shape() -> None:
    """When a flat body carries both ids, ``call_id`` is the call and neither is payload."""
    envelope = normalise({"type": "x", "call_id": "a", "conversation_id": "b", "k": 1})
    assert envelope == {"type": "x", "call_id": "a", "payload": {"k": 1}}


def test_hosted_shape_is_left_alone() -> None:
    """A hosted envelope passes through normalisation unchanged."""
    body = {"type": "event_message", "call_id": "c", "payload": {"text": "hi"}, "extra": 1}
    assert normalise(body) == body


def test_extra_fields_are_allowed_and_kept() -> None:
    """Unknown fields in the envelope and in the payload survive parsing and dumping."""
    event = parse_event(
        {
            "type": "event_human_detection",
            "call_id": "c",
            "agent": "a",
            "payload": {"result": "human", "score": 0.8},
        }
    )
    dumped = event.model_dump()
    assert dumped["agent"] == "a"
    assert dumped["payload"]["score"] == 0.8


def test_unknown_type_parses_as_unknown_event() -> None:
    """A type outside the eight is an UnknownEvent with its payload kept."""
    event = parse_event({"type": "event_new", "call_id": "c", "payload": {"a": {"b": 1}}})
    assert type(event) is UnknownEvent
    assert event.type == "event_new"
    assert event.model_dump()["payload"] == {"a": {"b": 1}}


def test_discriminated_on_type() -> None:
    """The model is picked by ``type``: the same payload validates differently per type."""
    payload = {"result": {"kind": "human"}}
    with pytest.raises(ValidationError):
        parse_event({"type": "event_human_detection", "call_id": "c", "payload": payload})
    assert (
        type(parse_event({"type": "event_recording", "call_id": "c", "payload": payload}))
        is (EVENT_MODELS["event_recording"])
    )


@pytest.mark.parametrize(
    "body",
    [
        {"type": "event_message", "payload": {}},
        {"call_id": "c", "payload": {}},
        {"type": ["event_message"], "call_id": "c", "payload": {}},
        {"type": {"x": 1}, "call_id": "c", "payload": {}},
        {"type": "event_message", "call_id": "c", "payload": "text"},
        {"type": "", "call_id": "c", "payload": {}},
        {"type": "t" * 101, "call_id": "c", "payload": {}},
        [],
        None,
    ],
    ids=[
        "no-call-id",
        "no-type",
        "type-list",
        "type-object",
        "payload-string",
        "type-empty",
        "type-too-long",
        "list",
        "null",
    ],
)
def test_invalid_bodies_raise_validation_error(body) -> None:
    """A malformed envelope raises pydantic's ValidationError, never another exception."""
    with pytest.raises(ValidationError):
        parse_event(body)


def test_models_are_frozen(sample) -> None:
    """Events handed to handlers cannot be modified."""
    event = parse_event(sample("event_human_detection"))
    assert isinstance(event, HumanDetectionEvent)
    with pytest.raises(ValidationError):
        event.call_id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        event.payload.result = "human"  # type: ignore[misc]
