"""Models of the Vocode calls API: the create-call request, the ``Call`` answer, a page of
calls and the 422 body.

Answers are read tolerantly (``extra="allow"``, every field but ``id`` optional, enums as
plain strings) because Vocode adds fields and values; the request is checked strictly
(``extra="forbid"``) so that a misspelt field fails here, before anyone is dialled.

Example::

    from receiver.vocode.models import CreateCallRequest

    request = CreateCallRequest(
        from_number="+15555550199",
        to_number="+15555550123",
        agent="0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b",
        context={"follow_up_key": "fu_123"},
    )
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_answer = ConfigDict(extra="allow", frozen=True)


def _uuid_string(value: str) -> str:
    uuid.UUID(value)  # raises ValueError: "badly formed hexadecimal UUID string"
    return value


AgentId = Annotated[str, AfterValidator(_uuid_string)]


class InlineAgent(BaseModel):
    """An agent described in the request itself; only ``prompt`` is required.

    ``prompt`` is a prompt id or an object such as ``{"content": "You are ..."}``; every
    other agent parameter (``voice``, ``webhook``, ``initial_message``, ...) passes through.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    prompt: str | dict[str, Any]


class CreateCallRequest(BaseModel):
    """The body of ``POST /v1/calls/create``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_number: Annotated[str, Field(min_length=1)]
    to_number: Annotated[str, Field(min_length=1)]
    agent: AgentId | InlineAgent
    on_no_human_answer: Literal["continue", "hangup"] = "continue"
    run_do_not_call_detection: bool | None = None
    hipaa_compliant: bool = False
    context: dict[str, str] = Field(default_factory=dict)
    telephony_params: dict[str, str] | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body to send: fields left unset as ``None`` are omitted."""
        return self.model_dump(mode="json", exclude_none=True)


class CallAgent(BaseModel):
    """The agent as a ``Call`` reports it (the full agent, with its ids)."""

    model_config = _answer

    id: str | None = None
    user_id: str | None = None
    prompt: str | dict[str, Any] | None = None
    actions: list[Any] | None = None
    voice: dict[str, Any] | str | None = None
    initial_message: str | dict[str, Any] | None = None
    webhook: dict[str, Any] | str | None = None


class Call(BaseModel):
    """A call as Vocode reports it: the answer of create, get and end."""

    model_config = _answer

    id: str
    user_id: str | None = None
    status: str = "not_started"  # not_started, in_progress, error, ended
    error_message: str | None = None
    recording_available: bool = False
    transcript: str | None = None
    to_number: str | None = None
    from_number: str | None = None
    agent: CallAgent | str | None = None
    # the SDK's fuller model
    stage: str | None = None  # created, picked_up, transfer_started, transfer_successful
    stage_outcome: str | None = None  # human_unanswered, call_did_not_connect, ...
    human_detection_result: str | None = None  # human, no_human
    do_not_call_result: bool | None = None
    telephony_id: str | None = None
    telephony_provider: str | None = None
    agent_phone_number: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    hipaa_compliant: bool | None = None
    on_no_human_answer: str | None = None
    run_do_not_call_detection: bool | None = None
    context: dict[str, Any] | None = None


class CallPage(BaseModel):
    """One page of ``GET /v1/calls/list``; ``page`` counts from 1."""

    model_config = _answer

    items: list[Call] = Field(default_factory=list)
    page: int = 1
    size: int = 0
    has_more: bool = False
    total: int | None = None
    total_is_estimated: bool | None = None


class FieldError(BaseModel):
    """One entry of a 422 answer's ``detail``."""

    model_config = _answer

    loc: list[str | int] = Field(default_factory=list)
    msg: str = ""
    type: str = ""


class ValidationErrorBody(BaseModel):
    """The body of a 422 answer: ``{"detail": [{"loc", "msg", "type", ...}]}``."""

    model_config = _answer

    detail: list[FieldError] = Field(default_factory=list)
