"""Typed models of the events Vocode delivers to an agent's webhook.

Hosted Vocode posts ``{"type", "call_id", "payload"}``; the self-hosted library posts
``{"type", "conversation_id", <fields at top level>}``. Both are normalised to the hosted
envelope before validation. Every model allows and keeps extra fields: Vocode may add some.
Values Vocode may add to (a sender, a telephony status, a detection result) are open strings:
the known ones are listed in their types, and any other string is kept as it came.

A body is an event when it has a ``type`` and a ``call_id`` (:class:`Envelope`); a payload
that does not fit its type's model does not make it less of one: intake keeps it,
quarantined (see ``receiver/intake/endpoint.py``).

Example::

    from receiver.events import parse_event

    event = parse_event({"type": "event_message", "call_id": "c1",
                         "payload": {"sender": "human", "text": "hi", "timestamp": 1.0}})
    assert event.payload.text == "hi"
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)

from receiver.payloads import (
    ActionFinishLog,
    ActionInput,
    ActionPayload,
    ActionStartLog,
    ConferenceLog,
    EventLog,
    HumanDetectionPayload,
    HumanDetectionResult,
    Line,
    MessageLog,
    MessagePayload,
    Payload,
    PhoneCallConnectedPayload,
    PhoneCallDidNotConnectPayload,
    PhoneCallEndedPayload,
    RecordingPayload,
    Sender,
    TelephonyStatus,
    Transcript,
    TranscriptCompletePayload,
    TranscriptPayload,
)

HOSTED_EVENT_TYPES: tuple[str, ...] = (
    "event_message",
    "event_action",
    "event_phone_call_connected",
    "event_phone_call_ended",
    "event_phone_call_did_not_connect",
    "event_transcript",
    "event_recording",
    "event_human_detection",
)
"""The types a hosted Vocode webhook can subscribe to (the SDK's ``EventType``)."""
EVENT_TYPES: tuple[str, ...] = (*HOSTED_EVENT_TYPES, "event_transcript_complete")
"""Every type with a model: the hosted ones, and the self-hosted library's whole transcript."""
UNKNOWN = "unknown"
TERMINAL_STAGES = {
    "event_phone_call_ended": "ended",
    "event_phone_call_did_not_connect": "did_not_connect",
}
"""The events that end a call, and the stage each leaves it in."""
TERMINAL_TYPES: tuple[str, ...] = tuple(TERMINAL_STAGES)
"""The events that end a call: the receiver looks up a call that sent neither
(``receiver/calls/reconciler.py``), and deduplicates them by call and type."""
TERMINAL_SQL = "('" + "', '".join(TERMINAL_TYPES) + "')"
""":data:`TERMINAL_TYPES` as an SQL list, for ``type IN ...``."""

# non-finite floats are dumped as themselves (not None), so that intake sees and refuses them
_open = ConfigDict(extra="allow", frozen=True, ser_json_inf_nan="constants")


class Envelope(BaseModel):
    """What makes a body an event at all: a ``type`` and a ``call_id``, both strings.

    Intake refuses (422) only what fails this; a payload that fails its type's model is
    kept, quarantined."""

    model_config = _open

    type: Annotated[str, Field(min_length=1, max_length=100)]
    call_id: Annotated[str, Field(min_length=1, max_length=200)]
    payload: Any = None


class Synthesized(BaseModel):
    """How the receiver made an event Vocode never delivered: ``source`` is where its facts
    came from (``GET /v1/calls``), ``at`` when it was made (epoch seconds)."""

    model_config = ConfigDict(frozen=True)

    source: str
    at: float


class Event(Envelope):
    """The hosted envelope. ``type`` names the event, ``call_id`` the Vocode call.

    ``synthesized`` is None for an event Vocode delivered; for a terminal event the receiver
    made from the call's state (its own never came), it says so and from where. Only the
    receiver sets it: a delivery that carries it does not fit (quarantined).
    """

    payload: Payload
    synthesized: Synthesized | None = Field(default=None, exclude=True)

    @field_validator("synthesized")
    @classmethod
    def _set_by_the_receiver_only(
        cls, value: Synthesized | None, info: ValidationInfo
    ) -> Synthesized | None:
        if value is not None and not (info.context or {}).get("stored"):
            raise ValueError("set by the receiver only, never by a delivery")
        return value


class MessageEvent(Event):
    type: Literal["event_message"]
    payload: MessagePayload


class ActionEvent(Event):
    type: Literal["event_action"]
    payload: ActionPayload


class PhoneCallConnectedEvent(Event):
    type: Literal["event_phone_call_connected"]
    payload: PhoneCallConnectedPayload


class PhoneCallEndedEvent(Event):
    type: Literal["event_phone_call_ended"]
    payload: PhoneCallEndedPayload


class PhoneCallDidNotConnectEvent(Event):
    type: Literal["event_phone_call_did_not_connect"]
    payload: PhoneCallDidNotConnectPayload


class TranscriptEvent(Event):
    """Either the hosted whole transcript or one utterance: ``payload.shape`` says which."""

    type: Literal["event_transcript"]
    payload: TranscriptPayload


class TranscriptCompleteEvent(Event):
    """The self-hosted library's whole transcript, as its event logs."""

    type: Literal["event_transcript_complete"]
    payload: TranscriptCompletePayload


class RecordingEvent(Event):
    type: Literal["event_recording"]
    payload: RecordingPayload


class HumanDetectionEvent(Event):
    type: Literal["event_human_detection"]
    payload: HumanDetectionPayload


class UnknownEvent(Event):
    """An event whose type this version does not know: stored and dispatched to ``"*"``."""

    payload: Payload


EVENT_MODELS: dict[str, type[Event]] = {
    "event_message": MessageEvent,
    "event_action": ActionEvent,
    "event_phone_call_connected": PhoneCallConnectedEvent,
    "event_phone_call_ended": PhoneCallEndedEvent,
    "event_phone_call_did_not_connect": PhoneCallDidNotConnectEvent,
    "event_transcript": TranscriptEvent,
    "event_recording": RecordingEvent,
    "event_human_detection": HumanDetectionEvent,
    "event_transcript_complete": TranscriptCompleteEvent,
}


def _tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in EVENT_MODELS else UNKNOWN


AnyEvent = Annotated[
    Annotated[MessageEvent, Tag("event_message")]
    | Annotated[ActionEvent, Tag("event_action")]
    | Annotated[PhoneCallConnectedEvent, Tag("event_phone_call_connected")]
    | Annotated[PhoneCallEndedEvent, Tag("event_phone_call_ended")]
    | Annotated[PhoneCallDidNotConnectEvent, Tag("event_phone_call_did_not_connect")]
    | Annotated[TranscriptEvent, Tag("event_transcript")]
    | Annotated[TranscriptCompleteEvent, Tag("event_transcript_complete")]
    | Annotated[RecordingEvent, Tag("event_recording")]
    | Annotated[HumanDetectionEvent, Tag("event_human_detection")]
    | Annotated[UnknownEvent, Tag(UNKNOWN)],
    Discriminator(_tag),
]

event_adapter: TypeAdapter[Event] = TypeAdapter(AnyEvent)

_ENVELOPE_KEYS = ("type", "call_id", "conversation_id", "payload")


def normalise(body: Any) -> Any:
    """Return the hosted envelope for a hosted or self-hosted (flat) body.

    The flat shape is recognised by the absence of ``payload``: its ``conversation_id``
    becomes ``call_id`` and its remaining top-level fields become the payload.
    Anything that is not an object is returned unchanged for validation to reject.
    """
    if not isinstance(body, dict):
        return body
    if "payload" in body:
        if "call_id" in body or "conversation_id" not in body:
            return body
        body = dict(body)
        body["call_id"] = body.pop("conversation_id")
        return body
    envelope: dict[str, Any] = {"type": body.get("type")}
    call_id = body.get("call_id", body.get("conversation_id"))
    if call_id is not None:
        envelope["call_id"] = call_id
    envelope["payload"] = {k: v for k, v in body.items() if k not in _ENVELOPE_KEYS}
    return envelope


_STORED = {"stored": True}


def validate(envelope: Any, *, stored: bool = False) -> Event:
    """A hosted envelope (already normalised) into its typed model; ``ValidationError`` if
    it does not fit. Intake, the worker and ``receiver events reparse`` all read events
    through this one function, so they always agree on what fits.

    ``stored``: the envelope is one the store holds outside quarantine (the worker), so its
    ``synthesized`` mark is the receiver's own."""
    if stored:
        return event_adapter.validate_python(envelope, context=_STORED)
    return event_adapter.validate_python(envelope)


def parse_event(body: Any) -> Event:
    """Validate a decoded body (either shape) into its typed event model."""
    return validate(normalise(body))


__all__ = [
    "EVENT_MODELS",
    "EVENT_TYPES",
    "HOSTED_EVENT_TYPES",
    "TERMINAL_TYPES",
    "UNKNOWN",
    "ActionEvent",
    "ActionFinishLog",
    "ActionInput",
    "ActionPayload",
    "ActionStartLog",
    "AnyEvent",
    "ConferenceLog",
    "Envelope",
    "Event",
    "EventLog",
    "HumanDetectionEvent",
    "HumanDetectionPayload",
    "HumanDetectionResult",
    "Line",
    "MessageEvent",
    "MessageLog",
    "MessagePayload",
    "Payload",
    "PhoneCallConnectedEvent",
    "PhoneCallConnectedPayload",
    "PhoneCallDidNotConnectEvent",
    "PhoneCallDidNotConnectPayload",
    "PhoneCallEndedEvent",
    "PhoneCallEndedPayload",
    "RecordingEvent",
    "RecordingPayload",
    "Sender",
    "Synthesized",
    "TelephonyStatus",
    "Transcript",
    "TranscriptCompleteEvent",
    "TranscriptCompletePayload",
    "TranscriptEvent",
    "TranscriptPayload",
    "UnknownEvent",
    "event_adapter",
    "normalise",
    "parse_event",
    "validate",
]
