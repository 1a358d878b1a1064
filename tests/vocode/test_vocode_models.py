"""The models of Vocode's calls API against the published samples and their edge cases."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from pydantic import ValidationError

from receiver.vocode import (
    Call,
    CallAgent,
    CallPage,
    CreateCallRequest,
    InlineAgent,
    ValidationErrorBody,
    parse_retry_after,
)
from receiver.vocode.fake.samples import load_sample

AGENT_ID = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"


def test_request_sample_validates_and_round_trips() -> None:
    """The published create-call request is valid and is sent back exactly as it was given."""
    sample = load_sample("request_create_call")
    request = CreateCallRequest.model_validate(sample)
    assert isinstance(request.agent, InlineAgent)
    assert request.agent.webhook.method == "POST"
    assert request.body() == sample


def test_request_sends_only_what_was_set() -> None:
    """An agent given by id is sent as that string; unset options are left to Vocode."""
    request = CreateCallRequest(from_number="+1", to_number="+2", agent=AGENT_ID)
    assert request.body() == {"from_number": "+1", "to_number": "+2", "agent": AGENT_ID}
    assert request.on_no_human_answer is None and request.hipaa_compliant is None


def test_request_accepts_what_the_sdk_accepts() -> None:
    """Open enums take other values; context and telephony_params take null values."""
    request = CreateCallRequest(
        from_number="+1",
        to_number="+2",
        agent={"prompt": "prompt-id", "language": "sv", "interrupt_sensitivity": "medium"},
        on_no_human_answer="voicemail",
        context={"patient": "Dana", "note": None},
        telephony_params={"region": None},
    )
    body = request.body()
    assert body["on_no_human_answer"] == "voicemail"
    assert body["context"] == {"patient": "Dana", "note": None}
    assert body["agent"] == {
        "prompt": "prompt-id", "language": "sv", "interrupt_sensitivity": "medium"
    }  # fmt: skip


def test_inline_agent_has_the_fields_of_the_sdk() -> None:
    """InlineAgent's fields are those of the SDK's CreateCallAgentParams, no more, no fewer."""
    from vocode.types import CreateCallAgentParams, PromptParams, WebhookParams

    from receiver.vocode.models import PromptParams as OurPrompt
    from receiver.vocode.models import WebhookParams as OurWebhook

    assert set(InlineAgent.model_fields) == set(CreateCallAgentParams.model_fields)
    assert set(OurPrompt.model_fields) == set(PromptParams.model_fields)
    assert set(OurWebhook.model_fields) == set(WebhookParams.model_fields)


@pytest.mark.parametrize(
    "change",
    [
        {"agent": "not-a-uuid"},
        {"agent": {"name": "no prompt"}},
        {"agent": {"prompt": "p", "vioce": "v"}},
        {"context": {"attempt": 2}},
        {"telephony_params": {"x": 1}},
        {"to_numbr": "+15555550123"},
        {"to_number": ""},
        {"hipaa_compliant": "maybe"},
    ],
    ids=[
        "agent-id", "agent-prompt", "agent-typo", "context", "telephony", "typo", "empty",
        "not-a-bool",
    ],
)
def test_request_refuses_what_vocode_would_refuse(change: dict) -> None:
    """A request with a bad agent, enum, context value, misspelt or empty field fails locally."""
    body = {"from_number": "+15555550199", "to_number": "+15555550123", "agent": AGENT_ID}
    with pytest.raises(ValidationError):
        CreateCallRequest.model_validate({**body, **change})


def test_call_sample_validates() -> None:
    """The published create-call answer is a valid Call, its agent fully read."""
    call = Call.model_validate(load_sample("response_create_call"))
    assert call.id == "9a7d3c2e-5b14-4e8f-8c61-2f0e4d9b7a15"
    assert call.status == "not_started" and call.recording_available is False
    assert isinstance(call.agent, CallAgent)
    assert call.agent.voice["voice_name"] == "alex"
    assert call.to_number == "+15555550123" and call.from_number == "+15555550199"


def test_call_tolerates_new_fields_and_values() -> None:
    """Unknown statuses, stages and fields from a newer Vocode are kept, not refused."""
    call = Call.model_validate(
        {
            "id": "c1",
            "status": "queued",
            "stage": "voicemail_left",
            "start_time": "2026-01-02T03:04:05Z",
            "context": {"follow_up_key": "k"},
            "new_field": [1, 2],
        }
    )
    assert call.status == "queued" and call.stage == "voicemail_left"
    assert call.start_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert call.model_extra == {"new_field": [1, 2]}


def test_call_page_and_422_body_validate() -> None:
    """A page of calls and the published 422 body are read into their models."""
    page = CallPage.model_validate(
        {
            "items": [load_sample("response_create_call")],
            "page": 1,
            "size": 10,
            "has_more": False,
            "total": 1,
            "total_is_estimated": False,
        }
    )
    assert page.items[0].id == "9a7d3c2e-5b14-4e8f-8c61-2f0e4d9b7a15"
    body = ValidationErrorBody.model_validate(load_sample("response_422_validation_error"))
    assert body.detail[0].loc == ["body", "to_number"]
    assert body.detail[0].type == "missing"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Retry-After is read as delta-seconds or an HTTP-date; garbage and absence give None."""
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    in_90s = format_datetime(datetime(2026, 1, 1, 12, 1, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(in_90s, now=now) == 90.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
