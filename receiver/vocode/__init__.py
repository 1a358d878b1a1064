"""The Vocode API side: its models, an async client, and a fake server.

Example::

    from receiver.vocode import CreateCallRequest, VocodeClient

    async with VocodeClient.from_settings(settings) as vocode:
        call = await vocode.create_call(CreateCallRequest(...))

The fake (``receiver.vocode.fake.FakeVocode``) is imported on demand: it pulls in uvicorn.
"""

from receiver.vocode.answers import parse_retry_after
from receiver.vocode.client import DEFAULT_BASE_URL, Observer, VocodeClient
from receiver.vocode.models import (
    Agent,
    AgentPage,
    Call,
    CallAgent,
    CallPage,
    CreateCallRequest,
    FieldError,
    InlineAgent,
    PromptParams,
    ValidationErrorBody,
    Webhook,
    WebhookPage,
    WebhookParams,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "Agent",
    "AgentPage",
    "Call",
    "CallAgent",
    "CallPage",
    "CreateCallRequest",
    "FieldError",
    "InlineAgent",
    "Observer",
    "PromptParams",
    "ValidationErrorBody",
    "VocodeClient",
    "Webhook",
    "WebhookPage",
    "WebhookParams",
    "parse_retry_after",
]
