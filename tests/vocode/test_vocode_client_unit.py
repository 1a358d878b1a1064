"""VocodeClient with an injected transport: what it sends, what it reports, how it is built."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from receiver.errors import SettingsError, VocodeError, VocodeOutcomeUnknown
from receiver.settings import Settings
from receiver.vocode import CreateCallRequest, VocodeClient
from receiver.vocode.fake.samples import load_sample

Handler = Callable[[httpx.Request], httpx.Response]


def client_with(handler: Handler, **kwargs: object) -> VocodeClient:
    return VocodeClient("vk_unit", transport=httpx.MockTransport(handler), **kwargs)


async def test_sends_bearer_key_and_the_request_body() -> None:
    """create_call POSTs the JSON body to /v1/calls/create with the bearer key."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=load_sample("response_create_call"))

    sample = load_sample("request_create_call")
    async with client_with(handler, base_url="https://vocode.example/") as client:
        await client.create_call(CreateCallRequest.model_validate(sample))
    (request,) = seen
    assert str(request.url) == "https://vocode.example/v1/calls/create"
    assert request.headers["authorization"] == "Bearer vk_unit"
    assert json.loads(request.content) == sample  # every field it set, its null included


async def test_sends_only_the_fields_that_were_set() -> None:
    """A minimal create sends its three fields: no default of ours overrides Vocode's."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=load_sample("response_create_call"))

    agent = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
    async with client_with(handler) as client:
        await client.create_call({"from_number": "+1", "to_number": "+2", "agent": agent})
        await client.create_call(
            {"from_number": "+1", "to_number": "+2", "agent": {"prompt": {"content": "Hi"}}}
        )
    assert json.loads(seen[0].content) == {"from_number": "+1", "to_number": "+2", "agent": agent}
    assert json.loads(seen[1].content)["agent"] == {"prompt": {"content": "Hi"}}


@pytest.mark.parametrize(
    "agent",
    [
        {"prompt": "p", "promt": "typo"},
        {"prompt": {"content": "x", "contnet": "typo"}},
        {"prompt": "p", "webhook": {"url": "u", "subscriptions": [], "mthod": "GET"}},
    ],
    ids=["agent-field", "prompt-field", "webhook-field"],
)
async def test_an_unknown_agent_field_is_refused_before_any_request(agent) -> None:
    """A misspelt field of an inline agent fails validation; nothing is sent."""
    seen: list[httpx.Request] = []
    async with client_with(lambda r: seen.append(r) or httpx.Response(500)) as client:
        with pytest.raises(ValidationError):
            await client.create_call({"from_number": "+1", "to_number": "+2", "agent": agent})
    assert seen == []


async def test_list_calls_sends_paging_and_sort_parameters() -> None:
    """list_calls passes page, size and sort_desc as query parameters."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "page": 3, "size": 5, "has_more": False})

    async with client_with(handler) as client:
        await client.list_calls(3, 5, sort_desc=True)
    assert dict(seen[0].url.params) == {"page": "3", "size": "5", "sort_desc": "true"}


async def test_unreadable_200_to_a_create_is_an_unknown_outcome() -> None:
    """A 200 to create whose body is not a Call may still mean a call exists: unknown."""
    async with client_with(lambda r: httpx.Response(200, text="<html>ok</html>")) as client:
        with pytest.raises(VocodeOutcomeUnknown):
            await client.create_call(load_sample("request_create_call"))
        with pytest.raises(VocodeError) as caught:
            await client.get_call("c1")
    assert not isinstance(caught.value, VocodeOutcomeUnknown)


async def test_observer_sees_operation_status_class_and_seconds() -> None:
    """Each request is reported once as (operation, status class, seconds)."""
    seen: list[tuple[str, str, float]] = []
    answers = iter([httpx.Response(200, json={"id": "c1"}), httpx.Response(502)])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers)

    async with client_with(handler, observe=lambda *a: seen.append(a)) as client:
        await client.get_call("c1")
        with pytest.raises(VocodeError):
            await client.end_call("c1")
    assert [(op, cls) for op, cls, _ in seen] == [("get_call", "2xx"), ("end_call", "5xx")]
    assert all(seconds >= 0 for _, _, seconds in seen)


async def test_transport_failures_are_reported_by_kind() -> None:
    """A failure with no answer is reported as not_sent or unknown, never a status."""
    seen: list[str] = []
    errors = iter([httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow")])

    def handler(request: httpx.Request) -> httpx.Response:
        raise next(errors)

    async with client_with(handler, observe=lambda op, cls, s: seen.append(cls)) as client:
        for _ in range(2):
            with pytest.raises(VocodeError):
                await client.get_call("c1")
    assert seen == ["not_sent", "unknown"]


async def test_a_failing_observer_never_fails_the_call() -> None:
    """An exception in the metric callback is logged and the created Call still returned."""

    def broken(*args: object) -> None:
        raise RuntimeError("metrics down")

    answer = httpx.Response(200, json=load_sample("response_create_call"))
    async with client_with(lambda r: answer, observe=broken) as client:
        call = await client.create_call(load_sample("request_create_call"))
    assert call.id == "9a7d3c2e-5b14-4e8f-8c61-2f0e4d9b7a15"


def test_from_settings_needs_a_key(settings_factory: Callable[..., Settings]) -> None:
    """Without RECEIVER_VOCODE_API_KEY the client is refused with the variable's name."""
    with pytest.raises(SettingsError, match="RECEIVER_VOCODE_API_KEY"):
        VocodeClient.from_settings(settings_factory())


async def test_from_settings_uses_base_url_and_timeout(
    settings_factory: Callable[..., Settings],
) -> None:
    """Base URL and timeout come from RECEIVER_VOCODE_BASE_URL and ..._TIMEOUT_SECONDS."""
    settings = settings_factory(
        vocode_api_key="vk_s", vocode_base_url="http://fake:1/", vocode_timeout_seconds=3
    )
    assert isinstance(settings.vocode_api_key, SecretStr)
    async with VocodeClient.from_settings(settings) as client:
        assert client.base_url == "http://fake:1"
        assert client._http.timeout == httpx.Timeout(3)
