"""Metrics: every series exists from the start, moves when its event happens, stays bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from receiver.events import EVENT_TYPES
from receiver.metrics import (
    DELIVERY_OUTCOMES,
    FOLLOW_UP_OUTCOMES,
    HTTP_REFUSALS,
    METHODS,
    REQUEST_OUTCOMES,
    STATUS_CLASSES,
    TYPE_LABELS,
    UNREGISTERED,
    VOCODE_OPERATIONS,
    Metrics,
    status_label,
)
from receiver.store.records import FollowUpStats, HandlerStats

JSON = {"content-type": "application/json"}
REQUESTS = "receiver_webhook_requests_total"
DELIVERIES = "receiver_deliveries_total"


@pytest.fixture
def metrics() -> Metrics:
    """A Metrics on a fresh registry."""
    return Metrics(CollectorRegistry())


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed back by prometheus-client's own parser."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    """One sample's value from a real scrape; None when the series does not exist."""
    return samples(metrics).get((name, tuple(sorted(labels.items()))))


def label_values(scraped: Metrics | dict, name: str, label: str) -> set[str]:
    """The values ``label`` takes on sample ``name`` in a scrape (or in ``samples(...)``)."""
    found = samples(scraped) if isinstance(scraped, Metrics) else scraped
    return {dict(lbls)[label] for (n, lbls) in found if n == name}


# -- present from the start ---------------------------------------------------------------------


def test_every_fixed_series_exists_at_zero(metrics: Metrics) -> None:
    """Every series with a fixed label set is in the first scrape, at 0."""
    first = samples(metrics)

    def at(name: str, **labels: str) -> float | None:
        return first.get((name, tuple(sorted(labels.items()))))

    for method in METHODS:
        for outcome in REQUEST_OUTCOMES:
            assert at("receiver_webhook_requests_total", method=method, outcome=outcome) == 0
    for kind in TYPE_LABELS:
        assert at("receiver_webhook_events_total", type=kind) == 0
    for outcome in FOLLOW_UP_OUTCOMES:
        assert at("receiver_follow_ups_total", outcome=outcome) == 0
    for operation in VOCODE_OPERATIONS:
        for status_class in STATUS_CLASSES:
            labels = {"operation": operation, "status_class": status_class}
            assert at("receiver_vocode_api_duration_seconds_count", **labels) == 0
    assert at("receiver_intake_duration_seconds_count") == 0
    assert at("receiver_delivery_stats_errors_total") == 0


def test_outcome_sets_are_the_documented_ones() -> None:
    """The bounded label sets hold at least what the issue names, and the eight types + unknown."""
    assert set(DELIVERY_OUTCOMES) == {"done", "retry", "dropped", "skipped", "dead"}
    assert set(FOLLOW_UP_OUTCOMES) == {
        "created", "rejected", "retried", "held", "unresolved",
        "refused_dnc", "refused_cap", "refused_depth", "suppressed",
    }  # fmt: skip
    assert {
        "accepted", "duplicate", "ignored", "unauthorized",
        "too_large", "bad_media_type", "malformed", "invalid",
    } <= set(REQUEST_OUTCOMES)  # fmt: skip
    assert set(TYPE_LABELS) == {*EVENT_TYPES, "unknown"}
    assert set(HTTP_REFUSALS) == {"headers_too_large", "timeout", "too_many_connections"}


def test_registered_handlers_get_every_series_at_zero(metrics: Metrics) -> None:
    """register_handlers creates each handler's counters, histogram and gauges at 0."""
    metrics.register_handlers(["crm.save", "log.record"])
    for handler in ("crm.save", "log.record"):
        for outcome in DELIVERY_OUTCOMES:
            assert value(metrics, DELIVERIES, handler=handler, outcome=outcome) == 0
        assert value(metrics, "receiver_handler_duration_seconds_count", handler=handler) == 0
        assert value(metrics, "receiver_deliveries_pending", handler=handler) == 0
        assert value(metrics, "receiver_oldest_pending_age_seconds", handler=handler) == 0
        assert value(metrics, "receiver_deliveries_dead", handler=handler) == 0


def test_build_info_and_process_metrics(metrics: Metrics) -> None:
    """The scrape carries the version and the process, platform and GC collectors."""
    from receiver import __version__

    assert value(metrics, "receiver_build_info", version=__version__) == 1
    names = {name for name, _ in samples(metrics)}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= names
    assert "python_gc_collections_total" in names


def test_process_metrics_can_be_left_out() -> None:
    """process_metrics=False builds a registry without process, platform and GC series."""
    names = {name for name, _ in samples(Metrics(CollectorRegistry(), process_metrics=False))}
    assert not {n for n in names if n.startswith(("process_", "python_"))}


# -- each metric moves when its event happens ---------------------------------------------------


def test_request_counts_method_outcome_and_duration(metrics: Metrics) -> None:
    """request() adds one to its (method, outcome) series and observes the duration."""
    metrics.request("POST", "accepted", 0.003)
    metrics.request("GET", "unauthorized", 0.0001)
    metrics.request("PATCH", "method_not_allowed", 0.0001)
    assert value(metrics, REQUESTS, method="POST", outcome="accepted") == 1
    assert value(metrics, REQUESTS, method="GET", outcome="unauthorized") == 1
    assert value(metrics, REQUESTS, method="other", outcome="method_not_allowed") == 1
    assert value(metrics, "receiver_intake_duration_seconds_count") == 3
    assert value(metrics, "receiver_intake_duration_seconds_bucket", le="0.005") == 3
    assert value(metrics, "receiver_intake_duration_seconds_bucket", le="0.001") == 2


def test_unknown_request_outcome_is_refused(metrics: Metrics) -> None:
    """An outcome outside the declared set raises instead of creating a series."""
    with pytest.raises(ValueError, match="request outcome"):
        metrics.request("POST", "teapot", 0.1)
    assert "teapot" not in label_values(metrics, "receiver_webhook_requests_total", "outcome")


def test_stored_counts_by_type(metrics: Metrics) -> None:
    """stored() counts known types by name and anything else as unknown."""
    metrics.stored("event_message")
    metrics.stored("event_message")
    metrics.stored("event_brand_new")
    assert value(metrics, "receiver_webhook_events_total", type="event_message") == 2
    assert value(metrics, "receiver_webhook_events_total", type="unknown") == 1


@pytest.mark.parametrize("outcome", DELIVERY_OUTCOMES)
def test_delivery_counts_outcome_and_duration(metrics: Metrics, outcome: str) -> None:
    """delivery() adds one to (handler, outcome) and observes the handler's run time."""
    metrics.register_handlers(["crm.save"])
    metrics.delivery("crm.save", outcome, 0.2)
    assert value(metrics, DELIVERIES, handler="crm.save", outcome=outcome) == 1
    assert value(metrics, "receiver_handler_duration_seconds_count", handler="crm.save") == 1
    assert value(metrics, "receiver_handler_duration_seconds_sum", handler="crm.save") == 0.2


def test_delivery_without_a_run_time_observes_nothing(metrics: Metrics) -> None:
    """delivery(..., seconds=None) counts the outcome but leaves the histogram alone."""
    metrics.register_handlers(["crm.save"])
    metrics.delivery("crm.save", "dead")
    assert value(metrics, DELIVERIES, handler="crm.save", outcome="dead") == 1
    assert value(metrics, "receiver_handler_duration_seconds_count", handler="crm.save") == 0


def test_delivery_of_an_unregistered_handler_is_folded(metrics: Metrics) -> None:
    """A handler name that was never registered is counted as 'unregistered'."""
    metrics.register_handlers(["crm.save"])
    metrics.delivery("gone.handler", "done", 0.1)
    assert label_values(metrics, DELIVERIES, "handler") == {"crm.save", UNREGISTERED}


def test_unknown_delivery_outcome_is_refused(metrics: Metrics) -> None:
    """A delivery outcome outside done/retry/dropped/dead raises."""
    metrics.register_handlers(["crm.save"])
    with pytest.raises(ValueError, match="delivery outcome"):
        metrics.delivery("crm.save", "lease_lost", 0.1)


@pytest.mark.parametrize("outcome", FOLLOW_UP_OUTCOMES)
def test_follow_up_counts_its_outcome(metrics: Metrics, outcome: str) -> None:
    """follow_up() adds one to its outcome and to no other."""
    metrics.follow_up(outcome)
    for other in FOLLOW_UP_OUTCOMES:
        expected = 1 if other == outcome else 0
        assert value(metrics, "receiver_follow_ups_total", outcome=other) == expected


def test_unknown_follow_up_outcome_is_refused(metrics: Metrics) -> None:
    """A follow-up outcome outside the declared set raises."""
    with pytest.raises(ValueError, match="follow-up outcome"):
        metrics.follow_up("dialled_twice")


@pytest.mark.parametrize(
    ("status", "label"),
    [(200, "2xx"), (201, "2xx"), (302, "other"), (422, "4xx"), (429, "4xx"), (503, "5xx"),
     (None, "unknown"), ("not_sent", "not_sent"), ("unknown", "unknown"), ("5xx", "5xx"),
     ("3xx", "other"), (99, "other")],
)  # fmt: skip
def test_vocode_call_observes_by_operation_and_status_class(
    metrics: Metrics, status: int | str | None, label: str
) -> None:
    """vocode_call() observes the duration under (operation, status class)."""
    metrics.vocode_call("create_call", status, 0.4)
    assert status_label(status) == label
    labels = {"operation": "create_call", "status_class": label}
    assert value(metrics, "receiver_vocode_api_duration_seconds_count", **labels) == 1
    assert value(metrics, "receiver_vocode_api_duration_seconds_sum", **labels) == 0.4


def test_unknown_vocode_operation_or_class_is_refused(metrics: Metrics) -> None:
    """An operation or status class outside the declared sets raises."""
    with pytest.raises(ValueError, match="Vocode operation"):
        metrics.vocode_call("/v1/calls/3f2b9c1e", 200, 0.1)
    with pytest.raises(ValueError, match="status class"):
        metrics.vocode_call("create_call", "teapot", 0.1)


# -- delivery gauges: set from the store every few seconds, never by a scrape -------------------


def test_delivery_stats_set_the_gauges(metrics: Metrics) -> None:
    """set_delivery_stats sets pending, dead and (at least) the oldest age per handler."""
    metrics.register_handlers(["crm.save", "log.record"])
    metrics.set_delivery_stats({"crm.save": (3, 120.0, 2)})
    assert value(metrics, "receiver_deliveries_pending", handler="crm.save") == 3
    assert value(metrics, "receiver_deliveries_dead", handler="crm.save") == 2
    assert value(metrics, "receiver_oldest_pending_age_seconds", handler="crm.save") >= 120.0
    assert value(metrics, "receiver_deliveries_pending", handler="log.record") == 0
    assert value(metrics, "receiver_oldest_pending_age_seconds", handler="log.record") == 0


def test_delivery_stats_accept_the_stores_records(metrics: Metrics) -> None:
    """The store's HandlerStats records are read like tuples."""
    metrics.register_handlers(["crm.save"])
    metrics.set_delivery_stats(
        {"crm.save": HandlerStats(pending=5, oldest_pending_age=7.5, dead=1)}
    )
    assert value(metrics, "receiver_deliveries_pending", handler="crm.save") == 5
    assert value(metrics, "receiver_deliveries_dead", handler="crm.save") == 1


def test_delivery_stats_go_back_to_zero(metrics: Metrics) -> None:
    """A handler absent from the next read is set to 0 pending, age 0, 0 dead."""
    metrics.register_handlers(["crm.save"])
    metrics.set_delivery_stats({"crm.save": (3, 120.0, 2), "old.gone": (1, 50.0, 4)})
    metrics.set_delivery_stats({})
    for handler in ("crm.save", UNREGISTERED):
        assert value(metrics, "receiver_deliveries_pending", handler=handler) == 0
        assert value(metrics, "receiver_oldest_pending_age_seconds", handler=handler) == 0
        assert value(metrics, "receiver_deliveries_dead", handler=handler) == 0


def test_delivery_stats_of_unloaded_handlers_are_summed(metrics: Metrics) -> None:
    """Rows of handlers this process does not load are summed under 'unregistered'."""
    metrics.register_handlers(["crm.save"])
    metrics.set_delivery_stats({"a.old": (1, 10.0, 2), "b.old": (4, 90.0, 3)})
    assert label_values(metrics, "receiver_deliveries_dead", "handler") == {
        "crm.save",
        UNREGISTERED,
    }
    assert value(metrics, "receiver_deliveries_pending", handler=UNREGISTERED) == 5
    assert value(metrics, "receiver_deliveries_dead", handler=UNREGISTERED) == 5
    assert value(metrics, "receiver_oldest_pending_age_seconds", handler=UNREGISTERED) >= 90.0


async def test_refreshing_reads_the_store_in_the_background(metrics: Metrics) -> None:
    """refreshing() calls stats() by itself and the next scrape shows the values."""
    metrics.register_handlers(["crm.save"])
    read = asyncio.Event()

    async def stats() -> dict[str, tuple[int, float, int]]:
        read.set()
        return {"crm.save": (2, 30.0, 1)}

    async with metrics.refreshing(stats, interval=0.01):
        await asyncio.wait_for(read.wait(), 10)
        await asyncio.sleep(0)  # let the refresh finish setting the gauges
        assert value(metrics, "receiver_deliveries_pending", handler="crm.save") == 2
        assert value(metrics, "receiver_deliveries_dead", handler="crm.save") == 1


async def test_a_failed_read_keeps_the_values_and_is_counted(metrics: Metrics) -> None:
    """A failing stats() leaves the gauges as they were and adds to the error counter."""
    metrics.register_handlers(["crm.save"])
    metrics.set_delivery_stats({"crm.save": (2, 30.0, 1)})

    async def broken() -> dict[str, tuple[int, float, int]]:
        raise OSError("database is locked")

    assert await metrics.refresh_delivery_stats(broken) is False
    assert value(metrics, "receiver_delivery_stats_errors_total") == 1
    assert value(metrics, "receiver_deliveries_pending", handler="crm.save") == 2


def test_a_scrape_never_reads_the_store(metrics: Metrics) -> None:
    """Scraping calls nothing from the store: the gauges come from the last refresh."""
    calls: list[int] = []

    async def stats() -> dict[str, tuple[int, float, int]]:
        calls.append(1)
        return {}

    metrics.register_handlers(["crm.save"])
    for _ in range(3):
        metrics.render()
    assert calls == []


# -- bounded label sets -------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    kinds=st.lists(st.text(max_size=40), max_size=20),
    handlers=st.lists(st.text(max_size=20), max_size=10),
    methods=st.lists(st.text(max_size=10), max_size=10),
)
def test_label_sets_stay_bounded_under_random_input(
    kinds: list[str], handlers: list[str], methods: list[str]
) -> None:
    """Random event types, handler names and methods never add label values."""
    metrics = Metrics(CollectorRegistry(), process_metrics=False)
    metrics.register_handlers(["crm.save"])
    for kind in kinds:
        metrics.stored(kind)
    for name in handlers:
        metrics.delivery(name, "done", 0.01)
    metrics.set_delivery_stats({name: (1, 1.0, 1) for name in handlers})
    for method in methods:
        metrics.request(method, "accepted", 0.001)
    scraped = samples(metrics)
    handlers = {"crm.save", UNREGISTERED}
    assert label_values(scraped, "receiver_webhook_events_total", "type") == set(TYPE_LABELS)
    assert label_values(scraped, DELIVERIES, "handler") <= handlers
    assert label_values(scraped, "receiver_deliveries_pending", "handler") <= handlers
    assert label_values(scraped, "receiver_webhook_requests_total", "method") == set(METHODS)


async def test_random_types_through_the_endpoint_stay_bounded(
    client_factory, settings, hook
) -> None:
    """Events of made-up types POSTed to the endpoint are all counted as 'unknown'."""
    metrics = Metrics(CollectorRegistry())
    client = await client_factory(settings, metrics=metrics)
    kinds = [f"event_made_up_{n}" for n in range(5)] + ["", "x" * 200, "+15555550123"]
    for n, kind in enumerate(kinds):
        body = {"type": kind, "call_id": f"call-{n}", "payload": {}}
        response = await client.post(hook, content=json.dumps(body), headers=JSON)
        assert response.status_code in (202, 422)
    assert label_values(metrics, "receiver_webhook_events_total", "type") == set(TYPE_LABELS)
    for (_, labels), _v in samples(metrics).items():
        for _, label_value in labels:
            assert "call-" not in label_value and "5555550123" not in label_value


# -- through the app ----------------------------------------------------------------------------


async def test_endpoint_outcomes_move_their_series(
    client_factory, settings_factory, hook, sample_bytes
) -> None:
    """Each kind of webhook answer adds one to its outcome; stored events count by type."""
    metrics = Metrics(CollectorRegistry())
    settings = settings_factory(max_body_bytes=4096, subscriptions="event_message,event_action")
    client = await client_factory(settings, metrics=metrics)
    message = sample_bytes("event_message")

    def post(body: bytes, url: str = hook, media: str = "application/json") -> Any:
        return lambda: client.post(url, content=body, headers={"content-type": media})

    sends: list[tuple[str, Callable[[], Any]]] = [
        ("accepted", post(message)),
        ("duplicate", post(message)),
        ("ignored", post(sample_bytes("event_recording"))),
        ("unauthorized", post(message, url="/webhooks/vocode/wrong-token-0000000000")),
        ("too_large", post(b"{" + b" " * 5000 + b"}")),
        ("bad_media_type", post(message, media="text/plain")),
        ("malformed", post(b"{not json")),
        ("invalid", post(b'{"type": "event_message"}')),
        ("method_not_allowed", lambda: client.put(hook, content=message, headers=JSON)),
    ]
    for outcome, send in sends:
        before = value(metrics, REQUESTS, method="POST", outcome=outcome)
        before_other = value(metrics, REQUESTS, method="other", outcome=outcome)
        response: httpx.Response = await send()
        assert response.status_code < 500, outcome
        after = value(metrics, REQUESTS, method="POST", outcome=outcome)
        after_other = value(metrics, REQUESTS, method="other", outcome=outcome)
        assert (after - before) + (after_other - before_other) == 1, outcome
    assert value(metrics, "receiver_webhook_events_total", type="event_message") == 1
    assert value(metrics, "receiver_webhook_events_total", type="event_recording") == 0
    assert value(metrics, "receiver_intake_duration_seconds_count") == len(sends)


async def test_app_registers_its_handlers(client_factory, settings) -> None:
    """The app's /metrics carries per-handler series for every loaded handler from the start."""
    metrics = Metrics(CollectorRegistry())
    client = await client_factory(settings, metrics=metrics)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    handlers = label_values(metrics, DELIVERIES, "handler")
    assert handlers and UNREGISTERED not in handlers
    assert handlers <= label_values(metrics, "receiver_deliveries_pending", "handler")


async def test_metrics_token_protects_the_endpoint(client_factory, settings_factory) -> None:
    """With RECEIVER_METRICS_TOKEN set, /metrics answers 401 unless given Bearer <token>."""
    client = await client_factory(settings_factory(metrics_token="metrics-token-0123456789"))
    assert (await client.get("/metrics")).status_code == 401
    wrong = {"authorization": "Bearer metrics-token-0000000000"}
    assert (await client.get("/metrics", headers=wrong)).status_code == 401
    right = {"authorization": "Bearer metrics-token-0123456789"}
    response = await client.get("/metrics", headers=right)
    assert response.status_code == 200
    assert "receiver_build_info" in response.text


async def test_metrics_are_open_without_a_token(client) -> None:
    """Without RECEIVER_METRICS_TOKEN, /metrics needs no credentials."""
    assert (await client.get("/metrics")).status_code == 200


# -- health -------------------------------------------------------------------------------------


async def test_healthz_and_readyz_when_all_is_well(client) -> None:
    """/healthz says alive; /readyz says ready with a reachable, current store."""
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


async def test_readyz_reports_the_first_failing_check(client_factory, settings) -> None:
    """A ready check answering a reason makes /readyz 503 with that reason."""
    state: dict[str, str | None] = {"reason": "workers not running"}

    async def workers() -> str | None:
        return state["reason"]

    client = await client_factory(settings, ready_checks=[lambda: None, workers])
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "workers not running"}
    state["reason"] = None
    assert (await client.get("/readyz")).status_code == 200


async def test_readyz_when_the_store_is_unreachable(client, app, monkeypatch) -> None:
    """/readyz answers 503 'store unreachable' once the store cannot be pinged."""

    async def unreachable() -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(app.state.services.store, "ping", unreachable)
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "store unreachable"}


async def test_refreshing_reads_the_follow_up_backlog_too(metrics: Metrics) -> None:
    """With a follow-up source, one refresh sets receiver_follow_ups_pending and _held."""

    async def stats() -> dict[str, tuple[int, float, int]]:
        return {}

    async def follow_ups() -> FollowUpStats:
        return FollowUpStats(pending=4, held=2)

    assert value(metrics, "receiver_follow_ups_held") == 0
    assert await metrics.refresh_delivery_stats(stats, follow_ups)
    assert value(metrics, "receiver_follow_ups_pending") == 4
    assert value(metrics, "receiver_follow_ups_held") == 2


def test_lease_losses_exist_at_zero_and_count_by_kind(metrics: Metrics) -> None:
    """Every kind is exposed at 0 from the start; an unknown kind is a ValueError."""
    assert value(metrics, "receiver_lease_losses_total", kind="delivery") == 0
    assert value(metrics, "receiver_lease_losses_total", kind="follow_up") == 0
    assert value(metrics, "receiver_lease_losses_total", kind="call") == 0
    metrics.lease_lost("follow_up")
    assert value(metrics, "receiver_lease_losses_total", kind="follow_up") == 1
    with pytest.raises(ValueError, match="lease kind"):
        metrics.lease_lost("event")
