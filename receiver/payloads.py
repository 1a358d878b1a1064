"""The payload of each event type, as hosted Vocode and the self-hosted library send it.

Field names come from the public sources (the hosted API's docs and SDK, the open-source
library's ``vocode/streaming/models/events.py`` and ``transcript.py``). Every model keeps the
fields it does not know and is immutable. Values Vocode may add to are open strings: their
types list the known values, and any other string is kept as it came (a handler sees
``result == "voicemail"``, not a quarantine).

Import them from :mod:`receiver.events`, which re-exports every one.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
    model_validator,
)

Sender = Literal["human", "bot", "action_worker", "vector_db", "conference"] | str
TelephonyStatus = Literal["busy", "no-answer", "failed", "canceled"] | str
HumanDetectionResult = Literal["human", "no_human"] | str


class Payload(BaseModel):
    """Base of every payload: extra fields are kept, instances are immutable."""

    model_config = ConfigDict(extra="allow", frozen=True)


class MessagePayload(Payload):
    sender: Sender | None = None
    text: str | None = None
    timestamp: float | None = None


class ActionInput(Payload):
    action_config: dict[str, Any] | None = None
    conversation_id: str | None = None
    params: dict[str, Any] | None = None


class ActionPayload(Payload):
    action_input: ActionInput | None = None
    action_output: dict[str, Any] | None = None


class PhoneCallConnectedPayload(Payload):
    to_phone_number: str | None = None
    from_phone_number: str | None = None


class PhoneCallEndedPayload(Payload):
    conversation_minutes: float | None = None


class PhoneCallDidNotConnectPayload(Payload):
    telephony_status: TelephonyStatus | None = None


class RecordingPayload(Payload):
    recording_url: str | None = None


class HumanDetectionPayload(Payload):
    result: HumanDetectionResult


# -- transcripts ---------------------------------------------------------------------------


class Line(NamedTuple):
    """One line of a transcript: who spoke (``bot``, ``human``, …; lower case) and what."""

    sender: str
    text: str


class TranscriptPayload(Payload):
    """``event_transcript`` in either shape; :attr:`shape` says which one came.

    - ``"transcript"``: hosted Vocode's whole conversation as text, one line per turn
      (``BOT: …`` / ``HUMAN: …``), in ``transcript``.
    - ``"utterance"``: the self-hosted library's one utterance, sent as it is spoken:
      ``text``, ``sender`` and ``timestamp`` (like ``event_message``).

    A payload with neither ``transcript`` nor ``text`` fits neither shape (quarantined).
    """

    transcript: str | None = None
    text: str | None = None
    sender: Sender | None = None
    timestamp: float | None = None

    @model_validator(mode="after")
    def _one_of_the_shapes(self) -> TranscriptPayload:
        if self.transcript is None and self.text is None:
            raise ValueError("expected `transcript` (the whole conversation) or `text` (one turn)")
        return self

    @model_serializer(mode="wrap")
    def _its_shape_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Dump the fields of the shape that came (and any others that are set): a hosted
        transcript is stored, and digested for deduplication, as it was sent."""
        data: dict[str, Any] = handler(self)
        other = ("text", "sender", "timestamp") if self.shape == "transcript" else ("transcript",)
        for name in other:
            if data.get(name, 0) is None:
                del data[name]
        return data

    @property
    def shape(self) -> Literal["transcript", "utterance"]:
        return "utterance" if self.transcript is None else "transcript"

    @property
    def lines(self) -> list[Line]:
        """The turns: every line of a whole transcript, or the one utterance."""
        if self.transcript is None:
            return [Line((self.sender or "").lower(), self.text or "")]
        return [_line(text) for text in self.transcript.splitlines() if text.strip()]


def _line(text: str) -> Line:
    sender, sep, said = text.partition(": ")
    if not sep or " " in sender:
        return Line("", text)
    return Line(sender.lower(), said)


class EventLog(Payload):
    """One entry of the library's ``Transcript.event_logs``; :attr:`kind` says which."""

    kind: ClassVar[str] = "other"
    sender: Sender | None = None
    timestamp: float | None = None


class MessageLog(EventLog):
    """Something said (the library's ``Message``)."""

    kind: ClassVar[str] = "message"
    text: str
    is_final: bool | None = None
    is_backchannel: bool | None = None
    is_end_of_turn: bool | None = None


class ActionStartLog(EventLog):
    """An action started (the library's ``ActionStart``)."""

    kind: ClassVar[str] = "action_start"
    action_type: str
    action_input: dict[str, Any] | None = None


class ActionFinishLog(ActionStartLog):
    """An action finished (the library's ``ActionFinish``)."""

    kind: ClassVar[str] = "action_finish"
    action_output: dict[str, Any] | None = None


class ConferenceLog(EventLog):
    """Someone joined or left a conference (the library's ``ConferenceEvent``)."""

    kind: ClassVar[str] = "conference"
    conference_event_type: str  # participant_joined, participant_left, ...
    conference_event_role: str | None = None  # primary, transfer
    participant_phone_number: str | None = None


def _log_kind(value: Any) -> str:
    if not isinstance(value, dict):
        return getattr(value, "kind", "other")
    if "action_output" in value:
        return "action_finish"
    if "action_type" in value:
        return "action_start"
    if "conference_event_type" in value:
        return "conference"
    return "message" if "text" in value else "other"


AnyEventLog = Annotated[
    Annotated[MessageLog, Tag("message")]
    | Annotated[ActionStartLog, Tag("action_start")]
    | Annotated[ActionFinishLog, Tag("action_finish")]
    | Annotated[ConferenceLog, Tag("conference")]
    | Annotated[EventLog, Tag("other")],
    Discriminator(_log_kind),
]


class Transcript(Payload):
    """The library's ``Transcript``: every event log of the conversation, in order."""

    event_logs: list[AnyEventLog] = Field(default_factory=list)
    start_time: float | None = None

    @property
    def lines(self) -> list[Line]:
        """What was said, turn by turn (the message logs only)."""
        return [
            Line((log.sender or "").lower(), log.text)
            for log in self.event_logs
            if isinstance(log, MessageLog)
        ]


class TranscriptCompletePayload(Payload):
    """``event_transcript_complete``: the whole conversation when it ends (self-hosted)."""

    transcript: Transcript
