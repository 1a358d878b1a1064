"""Quarantine, end to end: a real event whose payload does not fit is kept, not refused;
listed and shown; and, once a model reads it, released by ``receiver events reparse`` and
delivered exactly once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from receiver import HandlerContext, Router
from receiver import events as event_models
from receiver.app import create_app
from receiver.events import Event, MessageEvent, MessagePayload
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.store.records import DeliveryFilter

router = Router("quarantine")  # loaded by the CLI as RECEIVER_HANDLERS=test_quarantine:router
SEEN: list[Event] = []


@router.on("event_message", "event_human_detection")
async def keep(event: Event, ctx: HandlerContext) -> None:
    SEEN.append(event)


HANDLERS = "test_quarantine:router"
ISO_STAMP = "2024-11-26T10:00:12Z"  # a timestamp this version's model reads as a float only
MISFIT = {
    "type": "event_message",
    "call_id": "call-q",
    "payload": {"sender": "human", "text": "call me back", "timestamp": ISO_STAMP},
}


class LaterMessagePayload(MessagePayload):
    timestamp: float | str | None = None


class LaterMessageEvent(MessageEvent):
    payload: LaterMessagePayload


class Upgraded:
    """The event models of a later version, whose messages take a timestamp as a string."""

    def __init__(self, before: Any) -> None:
        self.before = before

    def validate_python(self, value: Any, **options: Any) -> Event:
        if isinstance(value, dict) and value.get("type") == "event_message":
            return LaterMessageEvent.model_validate(value, **options)
        return self.before.validate_python(value, **options)


@pytest.fixture(autouse=True)
def _fresh_seen() -> None:
    SEEN.clear()


async def _settled(store: Any, timeout: float = 10.0) -> list[Any]:
    """Wait until every delivery is done (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await store.list_deliveries(DeliveryFilter())
        if all(r.status == "done" for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries not done: {[(r.id, r.status) for r in rows]}")
        await asyncio.sleep(0.02)


def serve(settings: Settings, hook: str, *bodies: dict[str, Any]) -> list[httpx.Response]:
    """Run the service (intake and worker) until what it was sent has been delivered."""

    async def main() -> list[httpx.Response]:
        app = create_app(settings, metrics=Metrics())
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client,
        ):
            answers = [await client.post(hook, json=body) for body in bodies]
            await _settled(app.state.services.store)
            return answers

    return asyncio.run(main())


def test_a_misfit_is_quarantined_listed_and_after_reparse_delivered_once(
    cli, settings_factory, hook, monkeypatch
) -> None:
    """Quarantined (202, no delivery), listed and shown; reparse with a model that fits
    releases it; the worker then delivers it once, and reparsing again changes nothing."""
    settings = settings_factory(handlers=HANDLERS, poll_interval_seconds=0.05)
    fitting = {**MISFIT, "payload": {**MISFIT["payload"], "timestamp": 1732620012.5}}
    [misfit, fit] = serve(settings, hook, MISFIT, fitting)
    assert misfit.status_code == 202 and misfit.json()["quarantined"] is True
    assert fit.status_code == 202 and "quarantined" not in fit.json()
    assert [e.payload.timestamp for e in SEEN] == [1732620012.5]  # only the one that fits
    event_id = misfit.json()["id"]
    env = {"RECEIVER_HANDLERS": HANDLERS}

    listed = cli("events", "list", "--quarantined", "--json", env=env)
    assert [json.loads(line)["id"] for line in listed.output.splitlines()] == [event_id]
    shown = json.loads(cli("events", "show", event_id, env=env).output)
    assert shown["quarantined"] is True and shown["released_at"] is None
    assert [e["loc"] for e in shown["quarantine"]["errors"]] == [["payload", "timestamp"]]
    assert ISO_STAMP not in json.dumps(shown["quarantine"])
    still = cli("events", "reparse", "--all", env=env)
    assert f"still quarantined {event_id}: 1 errors" in still.output

    monkeypatch.setattr(event_models, "event_adapter", Upgraded(event_models.event_adapter))
    released = cli("events", "reparse", "--all", env=env)
    assert released.exit_code == 0, released.output
    assert f"released {event_id}: 1 deliveries" in released.output
    again = cli("events", "reparse", event_id, env=env)
    assert f"not quarantined {event_id}" in again.output
    assert cli("events", "list", "--quarantined", "--json", env=env).output == ""

    SEEN.clear()
    serve(settings, hook)  # the worker runs what the reparse created
    serve(settings, hook)  # and a second run finds nothing more
    assert [(e.call_id, e.payload.timestamp) for e in SEEN] == [("call-q", ISO_STAMP)]
    assert isinstance(SEEN[0], MessageEvent)


def test_reparse_needs_ids_or_all_and_names_unknown_ids(cli) -> None:
    """Neither ids nor --all is a usage error; an unknown id exits 1 naming it."""
    assert cli("events", "reparse").exit_code == 2
    assert cli("migrate").exit_code == 0
    result = cli("events", "reparse", "evt_nope")
    assert result.exit_code == 1 and "no event evt_nope" in result.output


Post = Callable[..., Awaitable[httpx.Response]]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (MISFIT, ["payload", "timestamp"]),
        ({"type": "event_message", "call_id": "c", "payload": ["a"]}, ["payload"]),
        ({"type": "event_transcript", "call_id": "c", "payload": {}}, ["payload"]),
        ({"type": "event_human_detection", "call_id": "c", "payload": {}}, ["payload", "result"]),
        ({"type": "event_new", "call_id": "c", "payload": "text"}, ["payload"]),
    ],
    ids=["bad-float", "payload-list", "transcript-neither-shape", "no-result", "unknown-type"],
)
async def test_intake_stores_a_misfit_in_quarantine(client, hook, app, body, loc) -> None:
    """202 with ``quarantined``; stored as sent with the errors' locations; no delivery."""
    response = await client.post(hook, json=body)
    assert response.status_code == 202
    assert response.json() == {"id": response.json()["id"], "quarantined": True}
    store = app.state.services.store
    record = await store.get_event(response.json()["id"])
    assert record.quarantined and record.envelope == body
    assert loc in [error["loc"] for error in record.quarantine["errors"]]
    assert await store.list_deliveries(DeliveryFilter()) == []


async def test_quarantine_is_counted_and_deduplicated(client, hook, app) -> None:
    """A quarantined event is counted by type and outcome; sent again, it is a duplicate."""
    first = await client.post(hook, json=MISFIT)
    second = await client.post(hook, json=MISFIT)
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "duplicate": True}
    metrics = app.state.services.metrics
    sample = metrics.registry.get_sample_value
    assert sample("receiver_events_quarantined_total", {"type": "event_message"}) == 1
    labels = {"method": "POST", "outcome": "quarantined"}
    assert sample("receiver_webhook_requests_total", labels) == 1


async def test_a_get_misfit_keeps_no_value_in_its_errors(client, hook, app) -> None:
    """A GET whose field does not fit is quarantined; its errors carry no submitted value."""
    params = {
        "type": "event_phone_call_ended",
        "call_id": "c",
        "payload.conversation_minutes": "SENSITIVE-9b1c",
    }
    response = await client.get(hook, params=params)
    assert response.status_code == 202 and response.json()["quarantined"] is True
    record = await app.state.services.store.get_event(response.json()["id"])
    assert "SENSITIVE-9b1c" not in json.dumps(record.quarantine)
    assert "SENSITIVE-9b1c" not in response.text


def test_an_unseen_human_detection_result_reaches_the_handler_as_a_string(
    settings_factory, hook
) -> None:
    """``result: "voicemail"`` (not one of the known values) is stored and handed over as is."""
    settings = settings_factory(handlers=HANDLERS, poll_interval_seconds=0.05)
    body = {"type": "event_human_detection", "call_id": "c-v", "payload": {"result": "voicemail"}}
    [answer] = serve(settings, hook, body)
    assert answer.status_code == 202 and answer.json() == {"id": answer.json()["id"]}
    [event] = SEEN
    assert event.type == "event_human_detection" and event.payload.result == "voicemail"
