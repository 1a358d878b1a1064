"""Tracing on both backends, with the SDK's in-memory exporter: one trace per event from the
intake request through the store to the handler run and the Vocode request its follow-up
makes; no span carries the webhook token."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from receiver.testing import sample
from receiver.tracing import NO_TRACING
from receiver.tracing_otel import OtelTracing
from receiver.vocode.fake import FakeVocode

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def exported():
    """``(tracing, exporter)``: spans kept in memory as each one ends."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield OtelTracing(provider), exporter
    provider.shutdown()


def _named(exporter, name: str) -> list:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def _until(check, what: str) -> None:
    for _ in range(1000):  # a bound, not a measurement
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_one_trace_from_the_request_to_the_vocode_api(
    settings_factory, start_app, client_for, exported
) -> None:
    """The handler run is a child of the intake span (through the trace context stored with
    the event), the follow-up's send a child of the run, its create request a child of the
    send; all one trace, and no span mentions the token (path or query)."""
    tracing, exporter = exported
    with FakeVocode(api_key="k") as fake:
        settings = settings_factory(
            handlers="fixture_trace_handlers:router", vocode_api_key="k",
            vocode_base_url=fake.url, poll_interval_seconds=0.05, default_region="US",
        )  # fmt: skip
        client = await client_for(await start_app(settings, tracing=tracing))
        body = sample("event_phone_call_did_not_connect")
        answer = await client.post(f"/webhooks/vocode/{TOKEN}", json=body)
        assert answer.status_code == 202
        event_id = answer.json()["id"]
        query = {"token": TOKEN, "type": "event_human_detection", "call_id": "c2",
                 "payload.result": "human"}  # fmt: skip
        assert (await client.get("/webhooks/vocode", params=query)).status_code == 202
        await _until(lambda: _named(exporter, "follow_up send"), "the follow-up was sent")
    [intake] = [
        s for s in _named(exporter, "POST /webhooks/vocode/{token}")
        if s.attributes["receiver.event_id"] == event_id
    ]  # fmt: skip
    [store] = _named(exporter, "receiver.store add_event")[:1]
    [run] = _named(exporter, "handler trace.call_back")
    [send] = _named(exporter, "follow_up send")
    [create] = _named(exporter, "POST /v1/calls/create")
    assert intake.kind == SpanKind.SERVER and intake.attributes["http.route"].endswith("{token}")
    assert intake.attributes["http.response.status_code"] == 202
    for child, parent in ((store, intake), (run, intake), (send, run), (create, send)):
        assert child.context.trace_id == intake.context.trace_id
        assert child.parent.span_id == parent.context.span_id, child.name
    assert run.attributes["receiver.outcome"] == "done"
    assert send.attributes["receiver.outcome"] == "created"
    assert create.kind == SpanKind.CLIENT and create.attributes["http.response.status_code"] == 200
    [get] = _named(exporter, "GET /webhooks/vocode")
    assert get.attributes["http.route"] == "/webhooks/vocode"
    everything = "".join(s.to_json() for s in exporter.get_finished_spans())
    assert TOKEN not in everything and "5555550123" not in everything


async def test_a_request_that_carries_a_trace_continues_it(
    settings, start_app, client_for, exported
) -> None:
    """A relay's traceparent header makes the intake span its child."""
    tracing, exporter = exported
    client = await client_for(await start_app(settings, tracing=tracing))
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    body = sample("event_message")
    answer = await client.post(
        f"/webhooks/vocode/{TOKEN}", json=body, headers={"traceparent": parent}
    )
    assert answer.status_code == 202
    [intake] = _named(exporter, "POST /webhooks/vocode/{token}")
    assert f"{intake.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{intake.parent.span_id:016x}" == "b7ad6b7169203331"


async def test_the_stored_trace_context_is_the_intake_spans(
    settings, start_app, client_for, exported, sql
) -> None:
    """events.trace_context holds the intake span's traceparent; without tracing, NULL."""
    tracing, exporter = exported
    client = await client_for(await start_app(settings, tracing=tracing))
    answer = await client.post(f"/webhooks/vocode/{TOKEN}", json=sample("event_message"))
    [intake] = _named(exporter, "POST /webhooks/vocode/{token}")
    [(stored,)] = await sql(f"SELECT trace_context FROM events WHERE id = '{answer.json()['id']}'")
    assert stored.startswith(f"00-{intake.context.trace_id:032x}-{intake.context.span_id:016x}-")


async def test_without_tracing_nothing_is_stored_or_made(settings, start_app, client_for, sql):
    """Off (the default), the app's tracing is the no-op one and no trace context is stored."""
    app = await start_app(settings)
    assert app.state.services.tracing is NO_TRACING
    client = await client_for(app)
    await client.post(f"/webhooks/vocode/{TOKEN}", json=sample("event_message"))
    assert await sql("SELECT trace_context FROM events") == [(None,)]
