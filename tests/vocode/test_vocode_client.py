"""VocodeClient against the fake Vocode API over real HTTP: every outcome of a create."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from receiver.errors import (
    VocodeAuthError,
    VocodeError,
    VocodeNotSent,
    VocodeOutcomeUnknown,
    VocodeRateLimited,
    VocodeRejected,
    VocodeServerError,
)
from receiver.vocode import CreateCallRequest, VocodeClient
from receiver.vocode.fake import SEED_AGENT_ID, FakeVocode, Fault
from receiver.vocode.fake.samples import load_sample

MakeRequest = Callable[..., CreateCallRequest]


async def test_create_call_returns_the_new_call(
    fake: FakeVocode, vocode: VocodeClient, make_request: MakeRequest
) -> None:
    """A create answers a Call with a new id that echoes the numbers and context sent."""
    request = make_request(to_number="+15555550777")
    call = await vocode.create_call(request)
    uuid.UUID(call.id)
    assert call.to_number == "+15555550777" and call.from_number == request.from_number
    assert call.context == request.context
    [created] = fake.created
    assert (created.to_number, created.context) == (request.to_number, request.context)
    assert [c.id for c in fake.calls] == [call.id]


async def test_create_call_accepts_a_plain_mapping(fake: FakeVocode, vocode: VocodeClient) -> None:
    """A dict body is validated into a CreateCallRequest before it is sent."""
    call = await vocode.create_call(load_sample("request_create_call"))
    assert call.context == {"patient_name": "Dana", "appointment_time": "Thursday 10:30am"}
    assert len(fake.created) == 1


async def test_422_is_rejected_with_field_errors_and_no_inputs(
    fake: FakeVocode, vocode: VocodeClient, make_request: MakeRequest
) -> None:
    """A 422 raises VocodeRejected carrying loc/msg/type, never the echoed request values."""
    fake.inject(Fault.answer(422, body=load_sample("response_422_validation_error")))
    with pytest.raises(VocodeRejected) as caught:
        await vocode.create_call(make_request())
    assert caught.value.status == 422 and caught.value.operation == "create_call"
    assert caught.value.detail == [
        {"loc": ["body", "to_number"], "msg": "Field required", "type": "missing"}
    ]
    assert "body.to_number: Field required" in str(caught.value)
    assert "+15555550199" not in str(caught.value)
    assert fake.created == []


@pytest.mark.parametrize("form", ["delta-seconds", "http-date"])
async def test_429_carries_retry_after(
    fake: FakeVocode, vocode: VocodeClient, make_request: MakeRequest, form: str
) -> None:
    """A 429 raises VocodeRateLimited with Retry-After in seconds, from either form."""
    # the date is made when the test runs: made at collection, a long run would see it pass
    in_two_minutes = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    header = "2" if form == "delta-seconds" else in_two_minutes
    fake.inject(Fault.answer(429, retry_after=header))
    with pytest.raises(VocodeRateLimited) as caught:
        await vocode.create_call(make_request())
    retry_after = caught.value.retry_after
    assert retry_after is not None
    assert retry_after == 2.0 if header == "2" else 0 < retry_after <= 120
    assert fake.created == []


async def test_500_is_a_server_error(
    fake: FakeVocode, vocode: VocodeClient, make_request: MakeRequest
) -> None:
    """A 5xx raises VocodeServerError with the status; the next request goes through."""
    fake.inject(Fault.answer(503))
    with pytest.raises(VocodeServerError) as caught:
        await vocode.create_call(make_request())
    assert caught.value.status == 503
    await vocode.create_call(make_request())
    assert len(fake.created) == 1


async def test_wrong_key_is_an_auth_error(fake: FakeVocode, make_request: MakeRequest) -> None:
    """A 401 for a wrong key raises VocodeAuthError and nothing is created."""
    async with VocodeClient("vk_wrong_key", base_url=fake.url) as client:
        with pytest.raises(VocodeAuthError) as caught:
            await client.create_call(make_request())
    assert caught.value.status == 401
    assert fake.created == []


async def test_connection_refused_is_not_sent(free_port: int, make_request: MakeRequest) -> None:
    """No server listening: VocodeNotSent, the case that is safe to retry."""
    async with VocodeClient("k", base_url=f"http://127.0.0.1:{free_port}") as client:
        with pytest.raises(VocodeNotSent) as caught:
            await client.create_call(make_request())
    assert not isinstance(caught.value, VocodeOutcomeUnknown)


async def test_reset_before_commit_is_unknown_and_reconciles_to_absent(
    fake: FakeVocode, vocode: VocodeClient, make_request: MakeRequest
) -> None:
    """A reset after sending is VocodeOutcomeUnknown; the lookup then proves no call exists."""
    fake.inject(Fault.reset_before_commit())
    request = make_request()
    with pytest.raises(VocodeOutcomeUnknown):
        await vocode.create_call(request)
    key = request.context["follow_up_key"]
    assert await vocode.find_call_by_context("follow_up_key", key) is None
    assert fake.created == []


@pytest.mark.parametrize("fault", [Fault.commit_then_timeout(), Fault.commit_then_drop()])
async def test_commit_then_no_answer_is_unknown_and_the_lookup_finds_the_call(
    fake: FakeVocode, make_request: MakeRequest, fault: Fault
) -> None:
    """Created but unanswered (timeout or reset): OutcomeUnknown, then found by context."""
    fake.inject(fault)
    request = make_request()
    async with fake.client(timeout=0.5) as client:
        with pytest.raises(VocodeOutcomeUnknown):
            await client.create_call(request)
        key = request.context["follow_up_key"]
        found = await client.find_call_by_context("follow_up_key", key)
    assert found is not None
    assert [c.id for c in fake.calls] == [found.id]
    assert found.context["follow_up_key"] == key


async def test_find_call_by_context_pages_and_admits_when_it_did_not_look_far_enough(
    vocode: VocodeClient, make_request: MakeRequest
) -> None:
    """The lookup pages newest first; a match beyond max_pages is unknown, not absent."""
    oldest = await vocode.create_call(make_request())
    for _ in range(4):
        await vocode.create_call(make_request())
    key = oldest.context["follow_up_key"]
    found = await vocode.find_call_by_context("follow_up_key", key, size=2)
    assert found is not None and found.id == oldest.id
    with pytest.raises(VocodeOutcomeUnknown):
        await vocode.find_call_by_context("follow_up_key", key, size=2, max_pages=2)
    assert await vocode.find_call_by_context("follow_up_key", "nope", size=2) is None


async def test_get_list_and_end(vocode: VocodeClient, make_request: MakeRequest) -> None:
    """get_call, list_calls (newest first, paged) and end_call answer as Vocode does."""
    first = await vocode.create_call(make_request())
    second = await vocode.create_call(make_request())
    assert (await vocode.get_call(first.id)).id == first.id
    page = await vocode.list_calls(1, 1)
    assert [c.id for c in page.items] == [second.id]
    assert page.has_more and page.total == 2 and page.page == 1
    assert not (await vocode.list_calls(2, 1)).has_more
    assert (await vocode.end_call(first.id)).status == "ended"
    with pytest.raises(VocodeError) as caught:
        await vocode.get_call("no-such-call")
    assert caught.value.status == 404


async def test_a_recording_is_fetched_once_the_call_ended(
    vocode: VocodeClient, make_request: MakeRequest
) -> None:
    """get_recording answers the WAV of an ended call; before that, a 404."""
    call = await vocode.create_call(make_request())
    with pytest.raises(VocodeError) as caught:
        await vocode.get_recording(call.id)
    assert caught.value.status == 404
    await vocode.end_call(call.id)
    assert (await vocode.get_recording(call.id))[:4] == b"RIFF"


async def test_webhooks_and_agents(fake: FakeVocode, vocode: VocodeClient) -> None:
    """A webhook created, read, listed, updated; attached to an agent, then detached."""
    made = await vocode.create_webhook(url="https://h.example/a", subscriptions=["event_message"])
    assert made.method == "POST"  # the server's default, not sent
    assert (await vocode.get_webhook(made.id)) == made
    assert [w.id for w in (await vocode.list_webhooks()).items] == [made.id]
    changed = await vocode.update_webhook(made.id, method="GET")
    assert (changed.url, changed.method) == ("https://h.example/a", "GET")
    agent = await vocode.update_agent(SEED_AGENT_ID, webhook=made.id)
    assert agent.webhook_id == made.id and agent.webhook.url == "https://h.example/a"
    assert (await vocode.get_agent(SEED_AGENT_ID)).webhook_id == made.id
    listed = {a.id: a.webhook_id for a in (await vocode.list_agents()).items}
    assert listed == {SEED_AGENT_ID: made.id}
    assert (await vocode.update_agent(SEED_AGENT_ID, webhook=None)).webhook_id is None
    assert fake.agent()["webhook"] is None
