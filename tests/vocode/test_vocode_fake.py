"""The fake Vocode API itself: its checks, its HTTP controls, and the webhooks it plays."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from click.testing import Result

from receiver.errors import VocodeError, VocodeRateLimited, VocodeServerError
from receiver.vocode import VocodeClient
from receiver.vocode.fake import FakeVocode, Fault
from receiver.vocode.fake.samples import load_sample

LIFE = [
    "event_phone_call_connected",
    "event_message",
    "event_message",
    "event_message",
    "event_message",
    "event_phone_call_ended",
    "event_transcript",
    "event_recording",
]


def stored_types(cli: Callable[..., Result], call_id: str) -> list[str]:
    result = cli("events", "list", "--call-id", call_id, "--json", "--limit", "100")
    assert result.exit_code == 0, result.output
    return [json.loads(line)["type"] for line in result.output.splitlines()]


def test_fake_validates_create_requests_like_vocode(fake: FakeVocode, api_key: str) -> None:
    """An invalid create is answered 422 in FastAPI's shape and is not recorded."""
    body = load_sample("request_create_call")
    del body["to_number"]
    auth = {"authorization": f"Bearer {api_key}"}
    response = httpx.post(f"{fake.url}/v1/calls/create", json=body, headers=auth)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "to_number"] and error["type"] == "missing"
    assert fake.created == []


def test_fake_requires_a_bearer_key(fake: FakeVocode) -> None:
    """Without a bearer key every calls endpoint answers 401."""
    assert httpx.get(f"{fake.url}/v1/calls/list").status_code == 401
    response = httpx.post(f"{fake.url}/v1/calls/create", json=load_sample("request_create_call"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_faults_can_be_scripted_over_http(fake: FakeVocode, vocode: VocodeClient) -> None:
    """POST /_fake/faults queues faults (times repeats them); DELETE clears the queue."""
    fault = {"kind": "status", "status": 429, "retry_after": "4"}
    answer = httpx.post(f"{fake.url}/_fake/faults", json={"faults": [fault], "times": 2})
    assert len(answer.json()["pending"]) == 2
    with pytest.raises(VocodeRateLimited) as caught:
        await vocode.create_call(load_sample("request_create_call"))
    assert caught.value.retry_after == 4.0
    assert len(httpx.get(f"{fake.url}/_fake/faults").json()["pending"]) == 1
    assert httpx.delete(f"{fake.url}/_fake/faults").json() == {"pending": []}
    await vocode.create_call(load_sample("request_create_call"))
    assert len(httpx.get(f"{fake.url}/_fake/created").json()) == 1
    bad = httpx.post(f"{fake.url}/_fake/faults", json=[{"kind": "explode"}])
    assert bad.status_code == 422


def test_play_call_delivers_a_whole_call_to_a_real_receiver(
    fake: FakeVocode, receiver_url: str, cli: Callable[..., Result]
) -> None:
    """play_call posts connected, 4 messages, ended, transcript, recording; all stored."""
    result = fake.play_call(receiver_url, n_messages=4)
    assert [d.type for d in result.deliveries] == LIFE
    assert result.ok, result.deliveries
    assert {d.status for d in result.deliveries} == {202}
    assert sorted(stored_types(cli, result.call_id)) == sorted(LIFE)


async def test_play_of_a_created_call_uses_its_numbers_and_ends_it(
    fake: FakeVocode, vocode: VocodeClient, receiver_url: str
) -> None:
    """Playing a call the fake created reuses its numbers and marks it ended."""
    call = await vocode.create_call(load_sample("request_create_call"))
    result = fake.play_call(receiver_url, call_id=call.id, n_messages=2)
    assert result.ok
    ended = await vocode.get_call(call.id)
    assert ended.status == "ended" and ended.transcript.count("\n") == 1


def test_play_did_not_connect_over_http(
    fake: FakeVocode, receiver_url: str, cli: Callable[..., Result]
) -> None:
    """POST /_fake/play with did_not_connect delivers one event_phone_call_did_not_connect."""
    body = {"url": receiver_url, "did_not_connect": True, "telephony_status": "busy"}
    answer = httpx.post(f"{fake.url}/_fake/play", json=body, timeout=30).json()
    assert answer["ok"] is True
    assert [d["type"] for d in answer["deliveries"]] == ["event_phone_call_did_not_connect"]
    assert stored_types(cli, answer["call_id"]) == ["event_phone_call_did_not_connect"]


def test_play_drops_the_events_asked_and_the_call_still_ends(
    fake: FakeVocode, receiver_url: str, cli: Callable[..., Result]
) -> None:
    """`drop` leaves events out (listed, to post later); GET /v1/calls still reports the
    call ended, though the fake never created it."""
    result = fake.play_call(receiver_url, n_messages=1, drop=["event_phone_call_ended"])
    assert result.ok and [d["type"] for d in result.dropped] == ["event_phone_call_ended"]
    assert "event_phone_call_ended" not in [d.type for d in result.deliveries]
    assert sorted(stored_types(cli, result.call_id)) == sorted(
        ["event_phone_call_connected", "event_message", "event_transcript", "event_recording"]
    )
    [call] = [c for c in fake.calls if c.id == result.call_id]
    assert (call.status, call.stage, call.telephony_metadata["call_status"]) == (
        "ended", "picked_up", "completed",
    )  # fmt: skip


def test_play_over_http_drops_and_plays_a_machine_answer(fake: FakeVocode, api_key: str) -> None:
    """POST /_fake/play with human false plays connected, no_human, ended (here, ended
    dropped); the call reports no human; an unknown type to drop is 422."""
    ended = ["event_phone_call_ended"]
    body = {"url": "http://127.0.0.1:9/nowhere", "human": False, "drop": ended}
    answer = httpx.post(f"{fake.url}/_fake/play", json=body, timeout=30).json()
    assert [d["type"] for d in answer["deliveries"]] == [
        "event_phone_call_connected", "event_human_detection",
    ]  # fmt: skip
    assert [d["type"] for d in answer["dropped"]] == ["event_phone_call_ended"]
    auth = {"authorization": f"Bearer {api_key}"}
    call = httpx.get(f"{fake.url}/v1/calls", params={"id": answer["call_id"]}, headers=auth).json()
    assert (call["status"], call["human_detection_result"], call["stage_outcome"]) == (
        "ended", "no_human", "human_unanswered",
    )  # fmt: skip
    bad = httpx.post(f"{fake.url}/_fake/play", json={**body, "drop": ["event_nope"]})
    assert bad.status_code == 422


async def test_gets_of_a_call_are_counted_and_take_their_own_faults(
    fake: FakeVocode, vocode: VocodeClient
) -> None:
    """A fault scripted for get_call answers the next GET /v1/calls (not a create); every
    GET is counted per id, a 404 too."""
    call = await vocode.create_call(load_sample("request_create_call"))
    fake.inject(Fault.answer(503, operation="get_call"))
    await vocode.create_call(load_sample("request_create_call"))  # not the get's fault
    with pytest.raises(VocodeServerError):
        await vocode.get_call(call.id)
    assert (await vocode.get_call(call.id)).id == call.id
    with pytest.raises(VocodeError) as caught:
        await vocode.get_call("nobody")
    assert caught.value.status == 404
    assert fake.lookups == {call.id: 2, "nobody": 1}


def test_created_shows_what_each_request_carried(fake: FakeVocode, api_key: str) -> None:
    """GET /_fake/created lists each create body as sent: no field the client left out."""
    auth = {"authorization": f"Bearer {api_key}"}
    body = {"from_number": "+1", "to_number": "+2", "agent": "a-1", "extra": True}
    assert httpx.post(f"{fake.url}/v1/calls/create", json=body, headers=auth).status_code == 200
    assert httpx.get(f"{fake.url}/_fake/created").json() == [
        {"from_number": "+1", "to_number": "+2", "agent": "a-1"}
    ]
    [call] = httpx.get(f"{fake.url}/_fake/calls").json()
    assert (call["on_no_human_answer"], call["hipaa_compliant"]) == ("continue", False)


@pytest.mark.parametrize(
    ("path", "query", "loc"),
    [
        ("/v1/calls", {}, ["query", "id"]),
        ("/v1/calls/list", {"page": "first"}, ["query", "page"]),
        ("/v1/calls/list", {"sort_desc": "maybe"}, ["query", "sort_desc"]),
        ("/v1/webhooks/list", {"size": "1000"}, ["query", "size"]),
    ],
    ids=["missing-id", "page-not-int", "sort-not-bool", "size-too-big"],
)
def test_bad_queries_are_422_in_fastapis_shape(fake, api_key, path, query, loc) -> None:
    """A missing or unreadable query parameter is 422, located in the query."""
    auth = {"authorization": f"Bearer {api_key}"}
    response = httpx.get(f"{fake.url}{path}", params=query, headers=auth)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]


def test_the_command_serves_the_fake(free_port: int) -> None:
    """`receiver fake-vocode` serves the SDK's endpoints on the port given, with its key."""
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "receiver", "fake-vocode", "--port", str(free_port),
               "--api-key", "cli-key"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{free_port}/v1/webhooks/list"
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(url, headers={"authorization": "Bearer cli-key"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the fake did not start"
                time.sleep(0.1)
        assert response.status_code == 200 and response.json()["items"] == []
    finally:
        process.terminate()
        process.wait(timeout=10)
