"""What the fake Vocode API accepts: the request bodies and queries of the official SDK
(``vocode-api`` 0.0.48), read as a FastAPI server reads them.

Unknown fields are ignored (FastAPI's default), every optional field may be null, and the
values the SDK types as "one of these literals or any value" (``on_no_human_answer``, a
voice's ``type``, a webhook's ``method``, ...) are taken as they come. These are the
*server's* models: the project's own client (:mod:`receiver.vocode.models`) is stricter on
purpose, refusing a misspelt field before anyone is dialled.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

_read = ConfigDict(extra="ignore", frozen=True)
Open = Any
"""An SDK enum ``Union[Literal[...], Any]``: any value is allowed."""


class PromptParams(BaseModel):
    model_config = _read

    content: str | None = None
    collect_fields: list[dict[str, Any]] | None = None
    context_endpoint: str | None = None
    prompt_template: str | dict[str, Any] | None = None


class WebhookParams(BaseModel):
    """``WebhookParams``: the body of ``POST /v1/webhooks/create``, or an agent's webhook."""

    model_config = _read

    subscriptions: list[Open]
    url: str
    method: Open | None = None


class WebhookUpdate(BaseModel):
    """``WebhookUpdateParams``: absent, null or ``{}`` (the SDK's ``Undefined``) keeps a field."""

    model_config = _read

    subscriptions: list[Open] | dict[str, Any] | None = None
    url: str | dict[str, Any] | None = None
    method: Open | None = None


class AgentParams(BaseModel):
    """``CreateCallAgentParams``: an agent described inline in a create-call request."""

    model_config = _read

    name: str | None = None
    prompt: str | PromptParams
    language: Open | None = None
    actions: list[str | dict[str, Any]] | None = None
    voice: str | dict[str, Any] | None = None
    initial_message: str | None = None
    webhook: str | WebhookParams | None = None
    vector_database: str | dict[str, Any] | None = None
    interrupt_sensitivity: Open | None = None
    context_endpoint: str | None = None
    noise_suppression: bool | None = None
    endpointing_sensitivity: Open | None = None
    ivr_navigation_mode: Open | None = None
    conversation_speed: float | None = None
    initial_message_delay: float | None = None
    openai_model_name_override: str | None = None
    ask_if_human_present_on_idle: bool | None = None
    openai_account_connection: str | dict[str, Any] | None = None
    run_do_not_call_detection: bool | None = None
    llm_fallback: dict[str, Any] | None = None
    deepgram_keywords: dict[str, int | float | None] | None = None
    idle_time_seconds: int | None = None
    llm_temperature: float | None = None


class CreateCallBody(BaseModel):
    """The body of ``POST /v1/calls/create`` as the SDK sends it.

    ``model_fields_set`` says which fields the request carried."""

    model_config = _read

    from_number: str
    to_number: str
    agent: str | AgentParams
    on_no_human_answer: Open | None = None
    run_do_not_call_detection: bool | None = None
    hipaa_compliant: bool | None = None
    context: dict[str, str | None] | None = None
    telephony_params: dict[str, str | None] | None = None


AGENT_SCALARS = (
    "name", "language", "initial_message", "interrupt_sensitivity", "context_endpoint",
    "noise_suppression", "endpointing_sensitivity", "ivr_navigation_mode",
    "conversation_speed", "initial_message_delay", "openai_model_name_override",
    "ask_if_human_present_on_idle", "run_do_not_call_detection", "idle_time_seconds",
    "llm_temperature",
)  # fmt: skip
"""Agent fields that are one plain value: the fake sets them as they come."""


class AgentUpdate(BaseModel):
    """``AgentUpdateParams``, as far as attaching a webhook needs: ``webhook`` is a webhook
    id, a ``WebhookUpdateParams`` (applied to the agent's webhook), null (detach) or ``{}``
    (keep); the plain values of :data:`AGENT_SCALARS` are applied too, the rest ignored."""

    model_config = ConfigDict(extra="allow", frozen=True)

    webhook: str | WebhookUpdate | None = None


class IdQuery(BaseModel):
    model_config = _read

    id: str


class PageQuery(BaseModel):
    model_config = _read

    page: Annotated[int, Field(ge=1)] = 1
    size: Annotated[int, Field(ge=1, le=100)] = 50
    sort_column: str | None = None
    sort_desc: bool | None = None
