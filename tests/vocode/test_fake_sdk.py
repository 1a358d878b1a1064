"""The fake Vocode API driven through the official SDK (``vocode-api`` 0.0.48, imported as
``vocode``): every answer parses into the SDK's models, and every request its types allow is
accepted as Vocode's FastAPI server would accept it."""

from __future__ import annotations

import io
import wave

import httpx
import pytest
from vocode import AsyncVocode, Vocode
from vocode.core.api_error import ApiError
from vocode.errors.unprocessable_entity_error import UnprocessableEntityError
from vocode.types import (
    Agent,
    AgentPage,
    AzureVoice,
    AzureVoiceParams,
    Call,
    CallPage,
    CreateCallAgentParams,
    NormalizedCall,
    Prompt,
    PromptParams,
    TransferCallAction,
    TransferCallActionParams,
    TransferCallConfig,
    TwilioTelephonyMetadata,
    Undefined,
    VocodeVoice,
    Webhook,
    WebhookPage,
    WebhookParams,
)

from receiver.vocode.fake import SEED_AGENT_ID, FakeVocode

NUMBERS = {"from_number": "+15555550199", "to_number": "+15555550123"}
HOOK = "https://hooks.example.com/webhooks/vocode/token-0123456789abcdef"


@pytest.fixture
def sdk(fake: FakeVocode, api_key: str) -> Vocode:
    """The official SDK's client, pointed at the fake."""
    return Vocode(token=api_key, base_url=fake.url)


def inline_agent() -> CreateCallAgentParams:
    return CreateCallAgentParams(
        name="confirmer",
        prompt=PromptParams(content="You are Alex. Confirm ${patient_name}'s appointment."),
        language="en",
        voice=AzureVoiceParams(voice_name="en-US-SteffanNeural", rate=15),
        actions=[TransferCallActionParams(config=TransferCallConfig(phone_number="+15555550142"))],
        webhook=WebhookParams(subscriptions=["event_message"], url=HOOK, method="POST"),
        initial_message="Hi, this is Alex.",
        interrupt_sensitivity="high",
        endpointing_sensitivity="relaxed",
        deepgram_keywords={"Dana": 2},
    )


def test_a_created_call_parses_as_the_sdks_call(sdk: Vocode) -> None:
    """Create (by agent id, and inline), get and end answer a Call with its whole Agent."""
    by_id = sdk.calls.create_call(**NUMBERS, agent=SEED_AGENT_ID)
    context = {"patient_name": "Dana"}
    inline = sdk.calls.create_call(**NUMBERS, agent=inline_agent(), context=context)
    for call in (by_id, inline, sdk.calls.get_call(id=inline.id), sdk.calls.end_call(id=by_id.id)):
        assert isinstance(call, Call) and isinstance(call.agent, Agent)
        assert isinstance(call.agent.prompt, Prompt)
        assert call.telephony_provider == "twilio" and call.agent_phone_number == "+15555550199"
    assert isinstance(by_id.agent.voice, VocodeVoice) and by_id.agent.id == SEED_AGENT_ID
    assert isinstance(inline.agent.voice, AzureVoice)
    assert isinstance(inline.agent.actions[0], TransferCallAction)
    assert isinstance(inline.agent.webhook, Webhook) and inline.agent.webhook.url == HOOK
    assert inline.context == {"patient_name": "Dana"}
    assert sdk.calls.get_call(id=by_id.id).status == "ended"


def test_a_played_call_still_parses(fake: FakeVocode, sdk: Vocode, free_port: int) -> None:
    """After /_fake/play (here to nowhere) the call is ended with its transcript and times."""
    call = sdk.calls.create_call(**NUMBERS, agent=inline_agent())
    fake.play_call(f"http://127.0.0.1:{free_port}/nowhere", call_id=call.id, n_messages=2)
    played = sdk.calls.get_call(id=call.id)
    assert (played.status, played.stage, played.human_detection_result) == (
        "ended", "picked_up", "human"
    )  # fmt: skip
    assert played.transcript.count("\n") == 1
    assert isinstance(played.start_time, str) and isinstance(played.end_time, str)
    assert b"".join(sdk.calls.get_recording(id=call.id))[:4] == b"RIFF"


def test_a_call_that_did_not_connect_parses_with_its_telephony_status(
    fake: FakeVocode, sdk: Vocode, free_port: int
) -> None:
    """A played call that did not connect is in error, its Twilio metadata saying why."""
    call = sdk.calls.create_call(**NUMBERS, agent=SEED_AGENT_ID)
    fake.play_call(
        f"http://127.0.0.1:{free_port}/nowhere", call_id=call.id, did_not_connect=True,
        telephony_status="busy",
    )  # fmt: skip
    played = sdk.calls.get_call(id=call.id)
    assert (played.status, played.stage_outcome) == ("error", "call_did_not_connect")
    assert isinstance(played.telephony_metadata, TwilioTelephonyMetadata)
    assert played.telephony_metadata.call_status == "busy"


def test_a_page_of_calls_parses_as_the_sdks_page(sdk: Vocode) -> None:
    """list_calls answers a CallPage of NormalizedCall: the agent's id, times in seconds."""
    first = sdk.calls.create_call(**NUMBERS, agent=SEED_AGENT_ID)
    second = sdk.calls.create_call(**NUMBERS, agent=SEED_AGENT_ID)
    sdk.calls.end_call(id=first.id)
    page = sdk.calls.list_calls(page=1, size=1, sort_desc=True)
    assert isinstance(page, CallPage) and page.has_more and page.total == 2
    [item] = page.items
    assert isinstance(item, NormalizedCall) and item.id == second.id
    assert item.agent == SEED_AGENT_ID
    ended = sdk.calls.list_calls(page=2, size=1).items[0]
    assert isinstance(ended.end_time, float)


def test_requests_the_sdk_allows_are_accepted(fake: FakeVocode, sdk: Vocode) -> None:
    """Nulls in context and telephony_params, other enum values, an agent id that is not a
    uuid, explicit nulls and extra body fields: all accepted, extras ignored."""
    call = sdk.calls.create_call(
        **NUMBERS,
        agent="my-agent",
        on_no_human_answer="voicemail",
        context={"patient_name": "Dana", "note": None},
        telephony_params={"region": None},
        hipaa_compliant=None,
        run_do_not_call_detection=None,
        request_options={"additional_body_parameters": {"surprise": {"a": 1}}},
    )
    assert call.context == {"patient_name": "Dana", "note": None}
    assert call.on_no_human_answer == "voicemail" and call.agent.id == "my-agent"
    [created] = fake.created
    assert "surprise" not in created.model_dump()
    assert created.model_fields_set >= {"hipaa_compliant", "telephony_params"}


def test_a_request_the_server_refuses_is_a_422_the_sdk_reads(sdk: Vocode) -> None:
    """A null where a value is required is 422 in FastAPI's shape: the SDK parses it."""
    with pytest.raises(UnprocessableEntityError) as caught:
        sdk.calls.create_call(from_number="+1", to_number=None, agent=SEED_AGENT_ID)
    [error] = caught.value.body.detail
    assert error.loc == ["body", "to_number"] and error.type == "string_type"


@pytest.mark.parametrize(
    ("body", "kind", "loc"),
    [(b"{not json", "json_invalid", ["body", 1]), (b"", "missing", ["body"])],
    ids=["not-json", "empty"],
)
def test_a_body_that_is_not_json_is_422_not_500(fake, api_key, body, kind, loc) -> None:
    """Not JSON: 422 ``json_invalid`` located in the body; no body: 422 ``missing``."""
    for path in ("/v1/calls/create", "/v1/webhooks/create"):
        response = httpx.post(
            fake.url + path,
            content=body,
            headers={"authorization": f"Bearer {api_key}", "content-type": "application/json"},
        )
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert (error["type"], error["loc"]) == (kind, loc)


def test_a_recording_is_a_wav_once_the_call_ended(sdk: Vocode) -> None:
    """get_recording streams a WAV for an ended call; before it ends there is none (404)."""
    call = sdk.calls.create_call(**NUMBERS, agent=SEED_AGENT_ID)
    with pytest.raises(ApiError) as caught:
        b"".join(sdk.calls.get_recording(id=call.id))
    assert caught.value.status_code == 404
    sdk.calls.end_call(id=call.id)
    audio = b"".join(sdk.calls.get_recording(id=call.id))
    with wave.open(io.BytesIO(audio)) as read:
        assert (read.getnchannels(), read.getframerate(), read.getsampwidth()) == (1, 8000, 2)
        assert read.getnframes() > 0


def test_webhooks_are_created_read_listed_and_updated(sdk: Vocode) -> None:
    """Each webhook answer parses as the SDK's Webhook or WebhookPage; an update changes the
    fields given and keeps an ``Undefined`` one."""
    created = sdk.webhooks.create_webhook(subscriptions=["event_message"], url=HOOK, method="GET")
    assert isinstance(created, Webhook) and created.method == "GET"
    assert sdk.webhooks.get_webhook(id=created.id) == created
    page = sdk.webhooks.list_webhooks(page=1, size=10)
    assert isinstance(page, WebhookPage) and [w.id for w in page.items] == [created.id]
    changed = sdk.webhooks.update_webhook(
        id=created.id, url=HOOK + "x", subscriptions=Undefined(), method="POST"
    )
    assert (changed.url, changed.subscriptions, changed.method) == (
        HOOK + "x", ["event_message"], "POST"
    )  # fmt: skip
    with pytest.raises(ApiError) as caught:
        sdk.webhooks.get_webhook(id="no-such-webhook")
    assert caught.value.status_code == 404


def test_a_webhook_is_attached_to_an_agent_and_detached(sdk: Vocode) -> None:
    """update_agent(webhook=<id>) attaches it (Agent parses); ``None`` detaches it."""
    hook = sdk.webhooks.create_webhook(subscriptions=["event_message"], url=HOOK)
    attached = sdk.agents.update_agent(id=SEED_AGENT_ID, webhook=hook.id, name="front desk")
    assert isinstance(attached, Agent) and attached.webhook == hook
    assert attached.name == "front desk"
    assert sdk.agents.get_agent(id=SEED_AGENT_ID).webhook == hook
    listed = sdk.agents.list_agents()
    assert isinstance(listed, AgentPage) and listed.items[0].webhook == hook.id
    assert sdk.agents.update_agent(id=SEED_AGENT_ID, webhook=None).webhook is None
    with pytest.raises(ApiError) as caught:
        sdk.agents.update_agent(id="no-such-agent", webhook=hook.id)
    assert caught.value.status_code == 404


def test_a_wrong_key_is_401(fake: FakeVocode) -> None:
    """The SDK with another key is refused on every endpoint."""
    other = Vocode(token="not-the-key", base_url=fake.url)
    for ask in (other.calls.list_calls, other.webhooks.list_webhooks, other.agents.list_agents):
        with pytest.raises(ApiError) as caught:
            ask()
        assert caught.value.status_code == 401


async def test_the_async_sdk_reads_the_same_answers(fake: FakeVocode, api_key: str) -> None:
    """AsyncVocode creates, reads and lists through the fake as the sync client does."""
    sdk = AsyncVocode(token=api_key, base_url=fake.url)
    call = await sdk.calls.create_call(**NUMBERS, agent=inline_agent())
    assert (await sdk.calls.get_call(id=call.id)).id == call.id
    assert [c.id for c in (await sdk.calls.list_calls()).items] == [call.id]
