"""The webhook endpoint: every answer with the input that causes it, dedup, durability, secrets."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette

JSON = {"content-type": "application/json"}
HUMAN = {"type": "event_human_detection", "call_id": "call-1", "payload": {"result": "human"}}
OTHER_TOKEN = "second-token-fedcba9876543210"


def post_json(
    client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str] | None = None
) -> Awaitable[httpx.Response]:
    """POST ``body`` as JSON (Content-Type set) with extra ``headers``."""
    return client.post(url, content=json.dumps(body).encode(), headers={**JSON, **(headers or {})})


def query_of(body: dict[str, Any]) -> dict[str, str]:
    """The GET form of a hosted envelope, ``payload`` as one JSON string."""
    return {
        "type": body["type"],
        "call_id": body["call_id"],
        "payload": json.dumps(body["payload"]),
    }


def field_pairs(prefix: str, value: Any) -> list[tuple[str, str]]:
    """``payload.<field>=value`` pairs (nested objects as dotted keys) for scalar leaves."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in field_pairs(f"{prefix}.{k}", v)]
    return [(prefix, str(value))]


# -- 202: accepted, stored ------------------------------------------------------------------------


async def test_post_of_every_sample_is_stored(client, hook, event_sample, app) -> None:
    """Every example payload POSTed is answered 202 with its id and stored byte for byte."""
    _, body = event_sample
    response = await client.post(hook, content=body, headers=JSON)
    assert response.status_code == 202
    event_id = response.json()["id"]
    assert set(response.json()) == {"id"}
    record = await app.state.services.store.get_event(event_id)
    assert record.raw == body
    sent = json.loads(body)
    assert (record.type, record.call_id, record.method) == (sent["type"], sent["call_id"], "POST")
    assert record.envelope == sent


async def test_get_of_every_sample_is_stored(client, hook, event_sample, app) -> None:
    """Every example delivered by GET (payload as one JSON string) is stored like its POST."""
    _, body = event_sample
    sent = json.loads(body)
    response = await client.get(hook, params=query_of(sent))
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.method == "GET"
    assert record.envelope == sent
    assert record.raw == urlencode(query_of(sent)).encode()


@pytest.mark.parametrize(
    "name",
    [
        "event_message",
        "event_phone_call_connected",
        "event_phone_call_ended",
        "event_phone_call_did_not_connect",
        "event_transcript",
        "event_recording",
        "event_human_detection",
    ],
)
async def test_get_with_payload_field_pairs(client, hook, sample, app, name) -> None:
    """A GET may carry the payload as ``payload.<field>=value`` pairs; typed fields are coerced."""
    sent = sample(name)
    params = [("type", sent["type"]), ("call_id", sent["call_id"])]
    params += field_pairs("payload", sent["payload"])
    response = await client.get(hook, params=params)
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.envelope == sent


async def test_get_with_nested_payload_fields(client, hook, app) -> None:
    """``payload.a.b=value`` builds nested objects, so an action's input can come by GET."""
    params = {
        "type": "event_action",
        "call_id": "call-1",
        "payload.action_input.conversation_id": "call-1",
        "payload.action_input.action_config.type": "action_transfer_call",
    }
    response = await client.get(hook, params=params)
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.envelope["payload"]["action_input"] == {
        "conversation_id": "call-1",
        "action_config": {"type": "action_transfer_call"},
        "params": None,
    }


async def test_get_accepts_conversation_id_for_call_id(client, hook, app) -> None:
    """A GET may name the call with ``conversation_id`` instead of ``call_id``."""
    params = {
        "type": "event_human_detection",
        "conversation_id": "call-7",
        "payload.result": "human",
    }
    response = await client.get(hook, params=params)
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.call_id == "call-7"


async def test_flat_self_hosted_shape_by_post(client, hook, app) -> None:
    """The self-hosted shape (conversation_id, fields at top level) is stored as the envelope."""
    flat = {
        "type": "event_message",
        "conversation_id": "conv-1",
        "sender": "bot",
        "text": "Hello",
        "timestamp": 1.5,
        "extra_field": {"kept": True},
    }
    response = await post_json(client, hook, flat)
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.call_id == "conv-1"
    assert record.envelope == {
        "type": "event_message",
        "call_id": "conv-1",
        "payload": {
            "sender": "bot",
            "text": "Hello",
            "timestamp": 1.5,
            "extra_field": {"kept": True},
        },
    }
    assert record.raw == json.dumps(flat).encode()


async def test_flat_self_hosted_shape_by_get(client, hook, app) -> None:
    """A GET without ``payload`` keys is read as the flat shape: other keys form the payload."""
    params = {
        "type": "event_phone_call_ended",
        "conversation_id": "conv-2",
        "conversation_minutes": "3.5",
    }
    response = await client.get(hook, params=params)
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.envelope == {
        "type": "event_phone_call_ended",
        "call_id": "conv-2",
        "payload": {"conversation_minutes": 3.5},
    }


async def test_extra_fields_are_kept(client, hook, app) -> None:
    """Fields the models do not know, in the envelope or the payload, are stored, not dropped."""
    body = {**HUMAN, "agent_id": "a-1", "payload": {"result": "human", "confidence": 0.9}}
    response = await post_json(client, hook, body)
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.envelope["agent_id"] == "a-1"
    assert record.envelope["payload"]["confidence"] == 0.9


async def test_unknown_type_is_stored(client, hook, app) -> None:
    """A type this version does not know is stored and answered 202 (forward compatibility)."""
    body = {"type": "event_transcript_complete", "call_id": "call-1", "payload": {"x": [1, 2]}}
    response = await post_json(client, hook, body)
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.type == "event_transcript_complete"
    assert record.envelope == body


async def test_media_type_missing_is_read_as_json(client, hook) -> None:
    """A POST without Content-Type is tried as JSON (Vocode's headers are undocumented)."""
    response = await client.post(hook, content=json.dumps(HUMAN).encode())
    assert response.status_code == 202


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/cloudevents+json",
    ],
)
async def test_json_media_types_are_accepted(client, hook, content_type) -> None:
    """Any JSON media type (parameters, case, ``+json`` suffix) is accepted."""
    response = await client.post(
        hook, content=json.dumps(HUMAN).encode(), headers={"content-type": content_type}
    )
    assert response.status_code == 202


async def test_body_exactly_at_the_limit_is_accepted(
    client_factory, settings_factory, hook
) -> None:
    """A body of exactly RECEIVER_MAX_BODY_BYTES is not too large."""
    body = json.dumps(HUMAN).encode()
    client = await client_factory(settings_factory(max_body_bytes=len(body)))
    response = await client.post(hook, content=body, headers=JSON)
    assert response.status_code == 202


# -- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["path", "query", "bearer"])
async def test_token_accepted_in_path_query_or_bearer(client, token, where) -> None:
    """The token may come in the path, as ``?token=``, or as ``Authorization: Bearer``."""
    url, params, headers = "/webhooks/vocode", {}, dict(JSON)
    if where == "path":
        url = f"/webhooks/vocode/{token}"
    elif where == "query":
        params = {"token": token}
    else:
        headers["authorization"] = f"Bearer {token}"
    response = await client.post(
        url, params=params, headers=headers, content=json.dumps(HUMAN).encode()
    )
    assert response.status_code == 202


async def test_two_tokens_are_both_valid(client_factory, settings_factory, token) -> None:
    """RECEIVER_TOKENS holds several tokens at once, so one can be rotated without downtime."""
    client = await client_factory(settings_factory(tokens=f"{token},{OTHER_TOKEN}"))
    first = await post_json(client, f"/webhooks/vocode/{token}", HUMAN)
    second = await post_json(
        client, f"/webhooks/vocode/{OTHER_TOKEN}", {**HUMAN, "call_id": "call-2"}
    )
    third = await post_json(client, "/webhooks/vocode/third-token-0000000000000", HUMAN)
    assert (first.status_code, second.status_code, third.status_code) == (202, 202, 401)


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/webhooks/vocode", {}),
        ("/webhooks/vocode/wrong-token-0123456789abcdef", {}),
        ("/webhooks/vocode?token=wrong-token-0123456789abcdef", {}),
        ("/webhooks/vocode", {"authorization": "Bearer wrong-token-0123456789abcdef"}),
        ("/webhooks/vocode", {"authorization": f"Basic {'test-token-0123456789abcdef'}"}),
        ("/webhooks/vocode/test-token-0123456789abcde", {}),  # a prefix of the right token
    ],
    ids=["missing", "wrong-path", "wrong-query", "wrong-bearer", "not-bearer", "prefix"],
)
async def test_missing_or_wrong_token_is_401(client, app, url, headers) -> None:
    """A missing or wrong token is answered 401 with one body for both, and nothing is stored."""
    response = await client.post(
        url, content=json.dumps(HUMAN).encode(), headers={**JSON, **headers}
    )
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "a valid token is required"}
    assert await app.state.services.store.count_events() == 0


async def test_get_without_token_is_401(client) -> None:
    """GET deliveries need the token as much as POSTs do."""
    response = await client.get("/webhooks/vocode", params=query_of(HUMAN))
    assert response.status_code == 401


async def test_tokens_are_compared_in_constant_time(client, hook, monkeypatch) -> None:
    """Each offered token is checked with hmac.compare_digest against every configured token."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    response = await post_json(client, "/webhooks/vocode/wrong-token-0123456789abcdef", HUMAN)
    assert response.status_code == 401
    assert calls == [(b"wrong-token-0123456789abcdef", b"test-token-0123456789abcdef")]


async def test_unauthenticated_endpoint_when_allowed(client_factory, settings_factory) -> None:
    """With no token and RECEIVER_ALLOW_UNAUTHENTICATED=true, deliveries need no token."""
    client = await client_factory(settings_factory(tokens="", allow_unauthenticated=True))
    response = await post_json(client, "/webhooks/vocode", HUMAN)
    assert response.status_code == 202


async def test_allow_unauthenticated_does_not_open_a_tokened_endpoint(
    client_factory, settings_factory
) -> None:
    """When tokens are set, RECEIVER_ALLOW_UNAUTHENTICATED does not waive them."""
    client = await client_factory(settings_factory(allow_unauthenticated=True))
    response = await post_json(client, "/webhooks/vocode", HUMAN)
    assert response.status_code == 401


async def test_webhook_prefix_is_configurable(client_factory, settings_factory, token) -> None:
    """RECEIVER_WEBHOOK_PATH moves the endpoint; the old path is then 404."""
    client = await client_factory(settings_factory(webhook_path="/hooks/in/"))
    moved = await post_json(client, f"/hooks/in/{token}", HUMAN)
    old = await post_json(client, f"/webhooks/vocode/{token}", HUMAN)
    assert (moved.status_code, old.status_code) == (202, 404)
    assert old.json()["error"] == "not_found"


# -- rejections -----------------------------------------------------------------------------------


async def test_content_length_above_limit_is_413(client_factory, settings_factory, hook) -> None:
    """A body above RECEIVER_MAX_BODY_BYTES is answered 413 and not stored."""
    client = await client_factory(settings_factory(max_body_bytes=64))
    body = {**HUMAN, "payload": {"result": "human", "pad": "x" * 100}}
    response = await post_json(client, hook, body)
    assert response.status_code == 413
    assert response.json() == {"error": "too_large", "detail": "the limit is 64 bytes"}


def http_scope(
    path: str, headers: list[tuple[bytes, bytes]], method: str = "POST"
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"receiver.test"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("receiver.test", 80),
    }


async def call_asgi(
    app: Starlette, scope: dict[str, Any], chunks: int, size: int
) -> tuple[int, Any, int]:
    """Send ``chunks`` body chunks of ``size`` bytes; return status, body, chunks pulled."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * size, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), pulled


async def test_chunked_body_above_limit_stops_reading(start_app, settings_factory, hook) -> None:
    """Without Content-Length, reading stops at the chunk that crosses the limit: 413."""
    app = await start_app(settings_factory(max_body_bytes=4096))
    scope = http_scope(
        hook, [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    )
    status, body, pulled = await call_asgi(app, scope, chunks=1000, size=1000)
    assert (status, body["error"]) == (413, "too_large")
    assert pulled == 5  # 4000 bytes fit; the fifth chunk crosses 4096; the other 995 are never read


async def test_declared_length_above_limit_reads_nothing(start_app, settings_factory, hook) -> None:
    """With a Content-Length above the limit, 413 comes before any of the body is read."""
    app = await start_app(settings_factory(max_body_bytes=4096))
    scope = http_scope(hook, [(b"content-type", b"application/json"), (b"content-length", b"5000")])
    status, body, pulled = await call_asgi(app, scope, chunks=5, size=1000)
    assert (status, body["error"], pulled) == (413, "too_large", 0)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
async def test_post_of_non_json_media_type_is_415(client, hook, content_type) -> None:
    """A POST whose Content-Type is not JSON is answered 415."""
    response = await client.post(
        hook, content=json.dumps(HUMAN).encode(), headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert response.json() == {"error": "bad_media_type", "detail": "send application/json"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "event_message", ',
        b"",
        b"not json",
        b'{"type": "event_message"} trailing',
        b"{'single': 1}",
        b'{"type": "event_message", "call_id": "c", "payload": {"timestamp": NaN}}',
    ],
    ids=["truncated", "empty", "text", "trailing", "single-quotes", "nan"],
)
async def test_malformed_json_is_400(client, hook, app, body) -> None:
    """A body that is not JSON is answered 400 and nothing is stored."""
    response = await client.post(hook, content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"
    assert await app.state.services.store.count_events() == 0


async def test_invalid_utf8_is_400(client, hook) -> None:
    """A JSON body that is not valid UTF-8 is answered 400."""
    body = (
        b'{"type": "event_human_detection", "call_id": "c\xff\xfe", "payload": {"result": "human"}}'
    )
    response = await client.post(hook, content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"


async def test_get_with_invalid_utf8_is_400(client, hook, app) -> None:
    """A GET whose query decodes to invalid UTF-8 is answered 400, not stored mangled."""
    query = "type=event_message&call_id=c&payload.text=%FF%FE"
    response = await client.get(f"{hook}?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"
    assert await app.state.services.store.count_events() == 0


async def test_non_utf8_idempotency_key_is_accepted(client, hook) -> None:
    """A webhook-id header with non-UTF-8 bytes still identifies the event (no 500)."""
    headers = [("content-type", "application/json"), ("webhook-id", b"id-\xff")]
    first = await client.post(hook, content=json.dumps(HUMAN).encode(), headers=headers)
    second = await client.post(hook, content=json.dumps(HUMAN).encode(), headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)


async def test_get_with_malformed_payload_json_is_400(client, hook) -> None:
    """A GET whose ``payload`` parameter is not JSON is answered 400."""
    params = {"type": "event_human_detection", "call_id": "c", "payload": "{not json"}
    response = await client.get(hook, params=params)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"type": "event_message", "payload": {}}, ["call_id"]),
        ({"call_id": "c", "payload": {}}, ["type"]),
        ({"type": "event_message", "call_id": "", "payload": {}}, ["call_id"]),
        ({"type": ["event_message"], "call_id": "c", "payload": {}}, ["type"]),
        ({"type": "event_message", "call_id": 42, "payload": {}}, ["call_id"]),
        ({"type": "event_message", "payload": {"timestamp": "soon"}}, ["call_id"]),
    ],
    ids=[
        "no-call-id",
        "no-type",
        "empty-call-id",
        "type-not-string",
        "call-id-not-string",
        "no-call-id-and-bad-payload",
    ],
)
async def test_invalid_envelope_is_422_with_locations(client, hook, app, body, loc) -> None:
    """Only what is not an event at all (no type or call id) is answered 422, located."""
    response = await post_json(client, hook, body)
    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid"
    assert loc in [error["loc"] for error in answer["detail"]]
    assert all({"loc", "msg", "type"} <= set(error) for error in answer["detail"])
    assert await app.state.services.store.count_events() == 0


@pytest.mark.parametrize(
    "body", [[], "just a string", 42, None], ids=["list", "string", "number", "null"]
)
async def test_json_that_is_not_an_object_is_422(client, hook, body) -> None:
    """A JSON body that is not an object is an invalid envelope: 422 located at the body itself."""
    response = await post_json(client, hook, body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [[]]


async def test_422_echoes_none_of_the_submitted_values(client, hook) -> None:
    """A 422 answer carries locations and messages only, never a value that was sent."""
    secret = "SENSITIVE-7f3a"
    body = {
        "type": "event_human_detection",
        "call_id": {"nested": secret},
        "payload": {"result": f"{secret}-result", "note": secret},
        secret: secret,
    }
    response = await post_json(client, hook, body)
    assert response.status_code == 422
    assert secret not in response.text
    assert all("input" not in error and "ctx" not in error for error in response.json()["detail"])


async def test_get_422_echoes_none_of_the_submitted_values(client, hook) -> None:
    """The same holds for a GET: a bad query value is not repeated in the 422 answer."""
    params = {
        "type": "event_phone_call_ended",
        "call_id": "",
        "payload.conversation_minutes": "SENSITIVE-9b1c",
    }
    response = await client.get(hook, params=params)
    assert response.status_code == 422
    assert "SENSITIVE-9b1c" not in response.text


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
async def test_other_methods_are_405(client, hook, method) -> None:
    """Methods other than GET and POST are answered 405 with an Allow header."""
    response = await client.request(method, hook, content=json.dumps(HUMAN).encode(), headers=JSON)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    if method != "HEAD":
        assert response.json()["error"] == "method_not_allowed"


async def test_methods_setting_limits_the_endpoint(client_factory, settings_factory, hook) -> None:
    """With RECEIVER_METHODS=POST, a GET delivery is answered 405."""
    client = await client_factory(settings_factory(methods="POST"))
    response = await client.get(hook, params=query_of(HUMAN))
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_rejections_share_one_body_shape(client, hook) -> None:
    """Every rejection is JSON ``{"error": <code>, "detail": ...}`` with a JSON content type."""
    answers = [
        await client.post("/webhooks/vocode", content=b"{}", headers=JSON),
        await client.post(hook, content=b"x", headers={"content-type": "text/plain"}),
        await client.post(hook, content=b"{", headers=JSON),
        await client.post(hook, content=b"{}", headers=JSON),
        await client.put(hook),
    ]
    assert [a.status_code for a in answers] == [401, 415, 400, 422, 405]
    for answer in answers:
        assert answer.headers["content-type"] == "application/json"
        assert set(answer.json()) == {"error", "detail"}


async def test_store_unavailable_is_503(client, hook, app) -> None:
    """When the store cannot take the event, the answer is 503 (retry later), never a 202."""
    await app.state.services.store.close()
    async with asyncio.timeout(10):  # a regression would hang; fail it instead
        response = await post_json(client, hook, HUMAN)
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"


# -- subscriptions --------------------------------------------------------------------------------


async def test_type_outside_subscriptions_is_ignored(
    start_app, client_for, settings_factory, hook, sample
) -> None:
    """A known type outside RECEIVER_SUBSCRIPTIONS is answered 200 {"ignored": true}, not stored."""
    app = await start_app(settings_factory(subscriptions="event_message"))
    client = await client_for(app)
    ignored = await post_json(client, hook, sample("event_recording"))
    kept = await post_json(client, hook, sample("event_message"))
    assert (ignored.status_code, ignored.json()) == (200, {"ignored": True})
    assert kept.status_code == 202
    assert [e.type for e in await app.state.services.store.list_events()] == ["event_message"]


async def test_transcript_complete_can_be_subscribed_to_alone(
    start_app, client_for, settings_factory, hook, sample
) -> None:
    """RECEIVER_SUBSCRIPTIONS may name event_transcript_complete: it is kept, the rest ignored."""
    app = await start_app(settings_factory(subscriptions="event_transcript_complete"))
    client = await client_for(app)
    kept = await post_json(client, hook, sample("event_transcript_complete"))
    ignored = await post_json(client, hook, sample("event_transcript"))
    assert kept.status_code == 202 and ignored.json() == {"ignored": True}


async def test_unknown_type_is_stored_whatever_the_subscriptions(
    client_factory, settings_factory, hook
) -> None:
    """Subscriptions filter the eight known types only; an unknown type is still stored."""
    client = await client_factory(settings_factory(subscriptions="event_message"))
    body = {"type": "event_new_kind", "call_id": "c", "payload": {}}
    response = await post_json(client, hook, body)
    assert response.status_code == 202


# -- deduplication --------------------------------------------------------------------------------


async def test_redelivery_is_200_duplicate_with_first_id(client, hook, sample, app) -> None:
    """The same event sent twice is stored once; the second answer is 200 with the first id."""
    body = json.dumps(sample("event_message")).encode()
    first = await client.post(hook, content=body, headers=JSON)
    second = await client.post(hook, content=body, headers=JSON)
    assert first.status_code == 202
    assert (second.status_code, second.json()) == (
        200,
        {"id": first.json()["id"], "duplicate": True},
    )
    assert await app.state.services.store.count_events() == 1


async def test_redelivery_with_other_key_order_is_duplicate(client, hook) -> None:
    """Dedup hashes canonical JSON: key order and whitespace do not make a new event."""
    first = await client.post(
        hook,
        content=b'{"type":"event_human_detection","call_id":"c","payload":{"result":"human","x":1,"y":2}}',
        headers=JSON,
    )
    second = await client.post(
        hook,
        content=b'{"payload": {"y": 2, "x": 1, "result": "human"}, "call_id": "c",'
        b' "type": "event_human_detection"}',
        headers=JSON,
    )
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["id"] == first.json()["id"]


async def test_get_redelivery_of_a_posted_event_is_duplicate(client, hook, sample) -> None:
    """An event first POSTed and then delivered by GET (same payload JSON) is one event."""
    sent = sample("event_action")
    first = await post_json(client, hook, sent)
    second = await client.get(hook, params=query_of(sent))
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json() == {"id": first.json()["id"], "duplicate": True}


async def test_flat_and_hosted_shapes_of_one_event_are_duplicates(client, hook) -> None:
    """The flat and the hosted shape of the same event share a dedup key."""
    hosted = {"type": "event_human_detection", "call_id": "c-9", "payload": {"result": "human"}}
    flat = {"type": "event_human_detection", "conversation_id": "c-9", "result": "human"}
    first = await post_json(client, hook, hosted)
    second = await post_json(client, hook, flat)
    assert (first.status_code, second.status_code) == (202, 200)


@pytest.mark.parametrize(
    "change",
    [{"call_id": "call-2"}, {"payload": {"result": "no_human"}}, {"type": "event_other"}],
    ids=["call-id", "payload", "type"],
)
async def test_different_events_are_not_duplicates(client, hook, app, change) -> None:
    """Events differing in type, call id or payload are stored separately."""
    first = await post_json(client, hook, HUMAN)
    second = await post_json(client, hook, {**HUMAN, **change})
    assert (first.status_code, second.status_code) == (202, 202)
    assert await app.state.services.store.count_events() == 2


@pytest.mark.parametrize("header", ["webhook-id", "Idempotency-Key"])
async def test_idempotency_header_decides_dedup(client, hook, app, header) -> None:
    """With a webhook-id or Idempotency-Key header, that key (not the body) identifies the event."""
    one = await post_json(client, hook, HUMAN, headers={header: "msg_1"})
    same_key = await post_json(
        client, hook, {**HUMAN, "call_id": "call-2"}, headers={header: "msg_1"}
    )
    same_body = await post_json(client, hook, HUMAN, headers={header: "msg_2"})
    assert [r.status_code for r in (one, same_key, same_body)] == [202, 200, 202]
    assert same_key.json()["id"] == one.json()["id"]
    assert await app.state.services.store.count_events() == 2


async def test_a_calls_terminal_event_is_one_event_whatever_its_payload(client, hook, app) -> None:
    """An ended (or did-not-connect) event is keyed by call and type: another payload or a
    relay's webhook-id makes no second one; another call or type does."""
    ended = {"type": "event_phone_call_ended", "call_id": "c1", "payload": {}}
    first = await post_json(client, hook, {**ended, "payload": {"conversation_minutes": 1.5}})
    again = await post_json(client, hook, ended, headers={"webhook-id": "msg_9"})
    other_call = await post_json(client, hook, {**ended, "call_id": "c2"})
    other_type = await post_json(
        client, hook, {**ended, "type": "event_phone_call_did_not_connect"}
    )
    assert [r.status_code for r in (first, again, other_call, other_type)] == [202, 200, 202, 202]
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    assert await app.state.services.store.count_events() == 3


async def test_a_delivery_cannot_claim_to_be_synthesized(client, hook, app) -> None:
    """Only the receiver marks an event synthesized: a delivery carrying the mark is kept,
    quarantined, and reaches no handler."""
    body = {**HUMAN, "synthesized": {"source": "GET /v1/calls", "at": 1.0}}
    response = await post_json(client, hook, body)
    assert response.status_code == 202 and response.json()["quarantined"] is True
    [event] = await app.state.services.store.list_events(quarantined=True)
    assert [e["loc"] for e in event.quarantine["errors"]] == [["synthesized"]]


async def test_overlong_idempotency_key_is_422(client, hook) -> None:
    """An idempotency key over 200 characters is refused rather than stored."""
    response = await post_json(client, hook, HUMAN, headers={"webhook-id": "k" * 201})
    assert response.status_code == 422


async def test_concurrent_redeliveries_store_one_row_each(client, hook, app) -> None:
    """200 concurrent posts of 50 distinct events, each sent 4 times: exactly 50 rows, all 2xx."""
    bodies = [{**HUMAN, "call_id": f"call-{n}"} for n in range(50)]
    sends = [post_json(client, hook, body) for body in bodies for _ in range(4)]
    responses = await asyncio.gather(*sends)
    assert {r.status_code for r in responses} <= {200, 202}
    assert sum(r.status_code == 202 for r in responses) == 50
    ids_per_event = [{r.json()["id"] for r in responses[n * 4 : n * 4 + 4]} for n in range(50)]
    assert all(len(ids) == 1 for ids in ids_per_event)
    assert await app.state.services.store.count_events() == 50


# -- durability and what is stored ----------------------------------------------------------------


async def test_accepted_event_is_readable_through_a_new_connection(
    client, hook, sample_bytes, read_rows
) -> None:
    """After a 202 the row is committed: another connection reads it while the app still runs."""
    body = sample_bytes("event_transcript")
    response = await client.post(hook, content=body, headers=JSON)
    assert response.status_code == 202
    rows = read_rows(f"SELECT raw, type FROM events WHERE id = '{response.json()['id']}'")
    assert rows == [(body, "event_transcript")]


async def test_raw_body_is_kept_byte_for_byte(client, hook, app) -> None:
    """The raw body is stored exactly as sent: whitespace, key order, unicode escapes."""
    body = (
        b'{ "payload":{"text":"caf\\u00e9 \xe2\x98\x95","sender":"human"},\n'
        b' "call_id":"c", "type":"event_message"}'
    )
    response = await client.post(hook, content=body, headers=JSON)
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.raw == body
    assert record.envelope["payload"]["text"] == "café ☕"


async def test_headers_are_stored_without_secrets(client, token, app) -> None:
    """Request headers are stored, minus Authorization, Cookie and other secrets."""
    headers = {
        **JSON,
        "authorization": f"Bearer {token}",
        "cookie": "session=abc",
        "x-api-key": "key-123",
        "user-agent": "vocode-test/1.0",
        "x-request-id": "r-1",
    }
    response = await client.post(
        "/webhooks/vocode", content=json.dumps(HUMAN).encode(), headers=headers
    )
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert record.headers["user-agent"] == "vocode-test/1.0"
    assert record.headers["x-request-id"] == "r-1"
    assert not {"authorization", "cookie", "x-api-key"} & set(record.headers)


async def test_token_is_stored_nowhere(client, token, read_rows) -> None:
    """No way of sending the token (Bearer, ?token=, tok%65n=) leaves it in any stored column."""
    await client.get("/webhooks/vocode", params={"token": token, **query_of(HUMAN)})
    await client.post(
        "/webhooks/vocode",
        params={"token": token},
        content=json.dumps({**HUMAN, "call_id": "c2"}).encode(),
        headers=JSON,
    )
    await client.post(
        "/webhooks/vocode",
        content=json.dumps({**HUMAN, "call_id": "c3"}).encode(),
        headers={**JSON, "authorization": f"Bearer {token}"},
    )
    await client.get(f"/webhooks/vocode/{token}", params={**query_of(HUMAN), "call_id": "c4"})
    await client.get(f"/webhooks/vocode?tok%65n={token}&type=event_other&call_id=c5&k=v")
    rows = read_rows("SELECT * FROM events")
    assert len(rows) == 5
    dump = repr(rows)
    assert token not in dump


async def test_get_raw_is_the_query_without_the_token(client, token, app) -> None:
    """A GET's raw record is its query string, byte for byte, with the token parameter removed."""
    payload = "payload=%7B%22result%22%3A%22human%22%7D"
    query = f"type=event_human_detection&token={token}&call_id=c&{payload}"
    response = await client.get(f"/webhooks/vocode?{query}")
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    assert (
        record.raw
        == b"type=event_human_detection&call_id=c&payload=%7B%22result%22%3A%22human%22%7D"
    )
