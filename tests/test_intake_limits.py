"""Bad input at the webhook endpoint: a clear 400 and nothing stored, the same on both stores;
every stored envelope is JSON; a 500 that still happens is counted and logged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry

from receiver.intake.limits import MAX_DEPTH
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.store import create_store
from receiver.store.sqlite.store import SQLiteStore

JSON = {"content-type": "application/json"}


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses NaN and Infinity, as every JSON reader but Python's does."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(
    request: pytest.FixtureRequest, settings_factory: Callable[..., Settings]
) -> Settings:
    """Settings on this test's SQLite file, then on a PostgreSQL schema of its own."""
    if request.param == "postgres":
        return settings_factory(database_url=request.getfixturevalue("pg_url"))
    return settings_factory()


@pytest.fixture
async def served(
    store_settings: Settings, start_app, client_for
) -> AsyncIterator[tuple[httpx.AsyncClient, Any, Metrics]]:
    """(client, store, metrics) of an app on SQLite, then on PostgreSQL."""
    settings = store_settings
    metrics = Metrics(CollectorRegistry())
    app = await start_app(settings, store=create_store(settings), metrics=metrics)
    yield await client_for(app), app.state.services.store, metrics


def post(client: httpx.AsyncClient, hook: str, body: str | bytes) -> Any:
    return client.post(hook, content=body.encode() if isinstance(body, str) else body, headers=JSON)


BAD_BODIES = {
    "nan": '{"type":"event_message","call_id":"c1","payload":{"x":NaN}}',
    "infinity": '{"type":"event_message","call_id":"c1","payload":{"x":Infinity}}',
    "minus_infinity": '{"type":"event_message","call_id":"c1","payload":{"x":-Infinity}}',
    "overflow_in_a_typed_field": '{"type":"event_message","call_id":"c1","payload":'
    '{"timestamp":1e400}}',
    "overflow_in_an_extra_field": '{"type":"event_message","call_id":"c1","payload":'
    '{"x":[1,{"y":-1e400}]}}',
    "overflow_at_the_top": '{"type":"event_message","call_id":"c1","payload":{},"x":1e999}',
    "long_float": '{"type":"event_message","call_id":"c1","payload":{"x":' + "9" * 400 + ".5}}",
    "nul_in_call_id": '{"type":"event_message","call_id":"c\\u0000","payload":{}}',
    "nul_in_type": '{"type":"event_\\u0000","call_id":"c1","payload":{}}',
    "nul_in_a_payload_string": '{"type":"event_message","call_id":"c1","payload":'
    '{"text":"a\\u0000b"}}',
    "nul_in_a_key": '{"type":"event_message","call_id":"c1","payload":{"k\\u0000":1}}',
    "nul_flat_shape": '{"type":"event_message","conversation_id":"c\\u0000","text":"x"}',
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
async def test_values_no_store_can_keep_are_400(served, hook, case) -> None:
    """NaN, infinities, numbers beyond a float and NUL anywhere: 400 malformed, nothing stored,
    on SQLite and PostgreSQL alike."""
    client, store, metrics = served
    response = await post(client, hook, BAD_BODIES[case])
    assert (response.status_code, response.json()["error"]) == (400, "malformed")
    assert await store.count_events() == 0
    sample = metrics.registry.get_sample_value
    assert sample("receiver_webhook_requests_total", {"method": "POST", "outcome": "malformed"})


@pytest.mark.parametrize(
    "query",
    [
        "type=event_message&call_id=c%00",
        "type=event_message&call_id=c1&payload.text=a%00b",
        "type=event_message&call_id=c1&payload.k%00=1",
        'type=event_message&call_id=c1&payload={"x":NaN}',
        'type=event_message&call_id=c1&payload={"x":1e400}',
    ],
)
async def test_get_values_no_store_can_keep_are_400(served, hook, query) -> None:
    """The same values in a GET's query: 400, nothing stored."""
    client, store, _ = served
    response = await client.get(f"{hook}?{quote(query, safe='=&%')}")
    assert (response.status_code, response.json()["error"]) == (400, "malformed")
    assert await store.count_events() == 0


async def test_dotted_keys_256_deep_are_400_not_500(served, hook) -> None:
    """payload.a.a.… 256 levels deep is a 400 (it was a 500 at serialisation)."""
    client, store, _ = served
    key = "payload." + ".".join(["a"] * 256)
    response = await client.get(hook, params={"type": "event_message", "call_id": "c1", key: "1"})
    assert (response.status_code, response.json()["error"]) == (400, "malformed")
    assert await store.count_events() == 0


async def test_dotted_keys_at_the_depth_limit_are_stored(served, hook) -> None:
    """payload keys exactly MAX_DEPTH levels deep are accepted and stored as nested JSON."""
    client, store, _ = served
    key = "payload." + ".".join(["a"] * MAX_DEPTH)
    response = await client.get(hook, params={"type": "event_message", "call_id": "c1", key: "1"})
    assert response.status_code == 202
    record = await store.get_event(response.json()["id"])
    node = record.envelope["payload"]
    for _ in range(MAX_DEPTH - 1):
        node = node["a"]
    assert node == {"a": "1"}


async def test_text_that_only_looks_like_a_nul_escape_is_stored(served, hook) -> None:
    """A backslash followed by u0000 in a string (escaped as \\\\u0000) is text, not NUL."""
    client, store, _ = served
    body = {"type": "event_message", "call_id": "c1", "payload": {"text": "\\u0000 and 1e400"}}
    response = await post(client, hook, json.dumps(body))
    assert response.status_code == 202
    record = await store.get_event(response.json()["id"])
    assert record.envelope["payload"]["text"] == "\\u0000 and 1e400"


async def test_stored_envelopes_are_strict_json(served, hook, event_sample) -> None:
    """Every sample, and big finite numbers, are stored as envelopes any JSON reader reads."""
    client, store, _ = served
    _, raw = event_sample
    body = json.loads(raw)
    body["payload"]["big"] = [1e308, -1e308, 10**300, 5e-324]
    response = await post(client, hook, json.dumps(body))
    assert response.status_code == 202
    [record] = await store.list_events()
    assert strict_json(json.dumps(record.envelope)) == record.envelope
    assert record.envelope["payload"]["big"] == [1e308, -1e308, 10**300, 5e-324]


class FailingStore(SQLiteStore):
    """A store with a bug: writing an event raises something that is not a StoreError."""

    async def add_event(self, event: Any) -> Any:
        raise RuntimeError("a bug in the store")


async def test_a_500_is_counted_and_logged_with_its_traceback(
    start_app, client_for, settings, db_path, hook
) -> None:
    """An unexpected error answers 500 internal, counts outcome=internal, logs the traceback."""
    metrics = Metrics(CollectorRegistry())
    app = await start_app(settings, store=FailingStore(str(db_path)), metrics=metrics)
    client = await client_for(app)
    body = {"type": "event_message", "call_id": "c1", "payload": {}}
    with structlog.testing.capture_logs() as logs:
        response = await post(client, hook, json.dumps(body))
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "detail": None}
    sample = metrics.registry.get_sample_value
    assert sample("receiver_webhook_requests_total", {"method": "POST", "outcome": "internal"}) == 1
    [line] = [x for x in logs if x["event"] == "internal_error"]
    assert line["log_level"] == "error" and line["exc_info"] is True
