"""Models of the Vocode API: the create-call request, the ``Call`` answer, agents, webhooks,
pages of them and the 422 body. Field names and types follow the official SDK
(``vocode-api`` 0.0.48).

Answers are read tolerantly (``extra="allow"``, every field but ``id`` optional, enums as
plain strings) because Vocode adds fields and values. Requests are checked strictly
(``extra="forbid"``): a misspelt field fails here, before anyone is dialled. Values the SDK
leaves open (``on_no_human_answer``, a language, a webhook's method) are open here too, and
a request sends only the fields that were set: Vocode's defaults apply to the others.

Example::

    from receiver.vocode.models import CreateCallRequest

    request = CreateCallRequest(
        from_number="+15555550199",
        to_number="+15555550123",
        agent="0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b",
        context={"follow_up_key": "fu_123"},
    )
    request.body()  # the four fields set, nothing else
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_answer = ConfigDict(extra="allow", frozen=True)
_request = ConfigDict(extra="forbid", frozen=True)


def _uuid_string(value: str) -> str:
    uuid.UUID(value)  # raises ValueError: "badly formed hexadecimal UUID string"
    return value


AgentId = Annotated[str, AfterValidator(_uuid_string)]
OnNoHumanAnswer = Literal["continue", "hangup"] | str
Language = Literal["en", "es", "de", "hi", "pt", "fr", "nl", "id", "it", "ja", "ko"] | str
HttpMethod = Literal["GET", "POST"] | str
StringMap = dict[str, str | None]
"""``context`` and ``telephony_params``: string values, or null."""


class PromptParams(BaseModel):
    """A prompt given inline (the SDK's ``PromptParams``)."""

    model_config = _request

    content: str | None = None
    collect_fields: list[dict[str, Any]] | None = None
    context_endpoint: str | None = None
    prompt_template: str | dict[str, Any] | None = None


class WebhookParams(BaseModel):
    """A webhook given inline, or the body of ``POST /v1/webhooks/create``."""

    model_config = _request

    subscriptions: list[str]
    url: str
    method: HttpMethod | None = None


class LlmFallback(BaseModel):
    model_config = _request

    provider: Literal["openai", "azure"] | str
    model_name: str


class InlineAgent(BaseModel):
    """An agent described in the create request itself: the fields of the SDK's
    ``CreateCallAgentParams``, and no others. Only ``prompt`` is required: a prompt id, or
    ``{"content": "You are ..."}``. A voice, an action, a vector database or an OpenAI
    account is an id or the SDK's params object."""

    model_config = _request

    name: str | None = None
    prompt: str | PromptParams
    language: Language | None = None
    actions: list[str | dict[str, Any]] | None = None
    voice: str | dict[str, Any] | None = None
    initial_message: str | None = None
    webhook: str | WebhookParams | None = None
    vector_database: str | dict[str, Any] | None = None
    interrupt_sensitivity: Literal["low", "high"] | str | None = None
    context_endpoint: str | None = None
    noise_suppression: bool | None = None
    endpointing_sensitivity: Literal["auto", "relaxed", "sensitive"] | str | None = None
    ivr_navigation_mode: Literal["default", "off"] | str | None = None
    conversation_speed: float | None = None
    initial_message_delay: float | None = None
    openai_model_name_override: str | None = None
    ask_if_human_present_on_idle: bool | None = None
    openai_account_connection: str | dict[str, Any] | None = None
    run_do_not_call_detection: bool | None = None
    llm_fallback: LlmFallback | None = None
    deepgram_keywords: dict[str, int | float | None] | None = None
    idle_time_seconds: int | None = None
    llm_temperature: float | None = None


class CreateCallRequest(BaseModel):
    """The body of ``POST /v1/calls/create``."""

    model_config = _request

    from_number: Annotated[str, Field(min_length=1)]
    to_number: Annotated[str, Field(min_length=1)]
    agent: AgentId | InlineAgent
    on_no_human_answer: OnNoHumanAnswer | None = None
    run_do_not_call_detection: bool | None = None
    hipaa_compliant: bool | None = None
    context: StringMap | None = None
    telephony_params: StringMap | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body to send: the fields that were set, and only those."""
        return self.model_dump(mode="json", exclude_unset=True)


class Webhook(BaseModel):
    """A webhook as Vocode reports it."""

    model_config = _answer

    id: str
    user_id: str | None = None
    subscriptions: list[str] = Field(default_factory=list)
    url: str = ""
    method: HttpMethod | None = None


class CallAgent(BaseModel):
    """An agent as Vocode reports it: whole in a ``Call`` or ``GET /v1/agents`` (its
    webhook an object), or normalised in a page of agents (its webhook an id)."""

    model_config = _answer

    id: str | None = None
    user_id: str | None = None
    name: str | None = None
    prompt: str | dict[str, Any] | None = None
    actions: list[Any] | None = None
    voice: dict[str, Any] | str | None = None
    initial_message: str | dict[str, Any] | None = None
    webhook: Webhook | str | None = None

    @property
    def webhook_id(self) -> str | None:
        return self.webhook.id if isinstance(self.webhook, Webhook) else self.webhook


Agent = CallAgent


class Call(BaseModel):
    """A call as Vocode reports it: the answer of create, get and end (and, with the
    agent's id only, an item of a page of calls)."""

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
    telephony_metadata: dict[str, Any] | None = None  # Twilio's: call_sid, call_status, ...
    agent_phone_number: str | None = None
    start_time: datetime | None = None  # sent as ISO 8601 in a Call, as seconds in a page
    end_time: datetime | None = None
    hipaa_compliant: bool | None = None
    on_no_human_answer: str | None = None
    run_do_not_call_detection: bool | None = None
    context: dict[str, Any] | None = None
    telephony_params: dict[str, Any] | None = None


class Page(BaseModel):
    """One page of a list; ``page`` counts from 1."""

    model_config = _answer

    page: int = 1
    size: int = 0
    has_more: bool = False
    total: int | None = None
    total_is_estimated: bool | None = None


class CallPage(Page):
    items: list[Call] = Field(default_factory=list)


class WebhookPage(Page):
    items: list[Webhook] = Field(default_factory=list)


class AgentPage(Page):
    items: list[CallAgent] = Field(default_factory=list)


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
