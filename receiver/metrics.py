"""Every Prometheus metric of the service, on an injectable registry.

Labels come only from the bounded sets declared here (event types, outcomes, methods,
operations, status classes) or from registered handler names; never from a call id, event id
or phone number. Every series whose label set is fixed exists from the start with the value 0;
per-handler series exist from :meth:`Metrics.register_handlers` on.

Each process serves its own ``/metrics`` (``receiver serve`` on its port, ``receiver worker``
on ``RECEIVER_WORKER_METRICS_PORT``) and Prometheus scrapes every process as a target of its
own; ``sum by (...)`` adds them up. This is not prometheus-client's multiprocess mode, on
purpose: each of our processes is one event loop that owns its port (nothing forks workers
that share a socket, which is what multiprocess mode exists for), and per-process registries
keep what multiprocess mode loses: process metrics (CPU, memory, file descriptors), build
info, live gauges, and no shared directory of files to wipe between runs. Do not run the app
under ``uvicorn --workers N`` or gunicorn with several workers: start N processes on N ports.

The delivery gauges (pending, oldest pending age, dead) describe the shared database, so
every process reports the same values; aggregate them with ``max``, not ``sum``. They are set
by :meth:`Metrics.refreshing` every few seconds from one grouped query, never by a scrape.

Example::

    metrics = Metrics()                      # a fresh registry
    metrics.register_handlers(["crm.save_message"])
    metrics.delivery("crm.save_message", "done", 0.012)
    async with metrics.refreshing(store.delivery_stats, interval=5.0):
        ...
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from receiver import __version__
from receiver.events import EVENT_TYPES, UNKNOWN
from receiver.metrics_backlog import BacklogGauges
from receiver.metrics_calls import CallMetrics

log = structlog.get_logger("receiver.metrics")
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream; no `*_created` series: they double the output and nothing reads them

REQUEST_OUTCOMES = (
    "accepted",
    "quarantined",
    "duplicate",
    "ignored",
    "unauthorized",
    "too_large",
    "bad_media_type",
    "malformed",
    "invalid",
    "method_not_allowed",
    "unavailable",
    "internal",
)
METHODS = ("GET", "POST", "other")
# refused by the HTTP bounds before (or instead of) reaching the app: receiver.bounded_http
HTTP_REFUSALS = ("headers_too_large", "timeout", "too_many_connections")
TYPE_LABELS = (*EVENT_TYPES, UNKNOWN)
DELIVERY_OUTCOMES = ("done", "retry", "dropped", "skipped", "dead")
FOLLOW_UP_OUTCOMES = (
    "created",
    "rejected",
    "retried",
    "held",
    "unresolved",
    "refused_dnc",
    "refused_cap",
    "refused_depth",
    "suppressed",
)
VOCODE_OPERATIONS = (
    "create_call",
    "get_call",
    "list_calls",
    "end_call",
    "get_recording",
    "create_webhook",
    "get_webhook",
    "list_webhooks",
    "update_webhook",
    "get_agent",
    "list_agents",
    "update_agent",
)
# not_sent: failed before the request left (safe to retry); unknown: sent, no answer read
STATUS_CLASSES = ("2xx", "4xx", "5xx", "other", "not_sent", "unknown")
# the classic Prometheus text format, which every Prometheus version reads
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNREGISTERED = "unregistered"  # delivery rows of a handler this process does not load

INTAKE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
VOCODE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

LEASE_KINDS = ("delivery", "follow_up", "call")


def status_label(status: int | str | None) -> str:
    """The ``status_class`` label: from an HTTP status, a class, or None (no answer: unknown)."""
    if status is None:
        return "unknown"
    if isinstance(status, str):
        if status in STATUS_CLASSES:
            return status
        if status in ("1xx", "3xx"):  # what receiver.vocode.outcomes.status_class may say
            return "other"
        raise ValueError(f"status class {status!r} is not one of {STATUS_CLASSES}")
    label = f"{status // 100}xx"
    return label if label in STATUS_CLASSES else "other"


def _check(value: str, allowed: Iterable[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {tuple(allowed)}")
    return value


class Metrics(CallMetrics, BacklogGauges):
    """The service's metrics. One instance per registry; tests pass a fresh registry.

    ``process_metrics=False`` leaves out the process, platform and GC collectors.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process_metrics:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        Info("receiver_build", "Version of vocode-receiver.", registry=r).info(
            {"version": __version__}
        )

        # intake
        self.requests = Counter(
            "receiver_webhook_requests",
            "Webhook requests answered, by method and outcome.",
            ("method", "outcome"),
            registry=r,
        )
        self.events = Counter(
            "receiver_webhook_events",
            "Events newly stored, by event type (unknown types as 'unknown').",
            ("type",),
            registry=r,
        )
        self.quarantined_events = Counter(
            "receiver_events_quarantined",
            "Events stored in quarantine (their payload did not fit the type's model: no "
            "delivery until `receiver events reparse`), by event type.",
            ("type",),
            registry=r,
        )
        self.http_refusals = Counter(
            "receiver_http_refused",
            "Requests and connections refused by the HTTP bounds: request head too large "
            "(431), request not arrived in time (408), too many open connections (503).",
            ("reason",),
            registry=r,
        )
        self.intake_duration = Histogram(
            "receiver_intake_duration_seconds",
            "Time from request to answer at the webhook endpoint.",
            buckets=INTAKE_BUCKETS,
            registry=r,
        )

        # deliveries
        self.deliveries = Counter(
            "receiver_deliveries",
            "Handler runs finished, by handler and outcome (done, retry, dropped, dead).",
            ("handler", "outcome"),
            registry=r,
        )
        self.handler_duration = Histogram(
            "receiver_handler_duration_seconds",
            "Time a handler took to run, per attempt.",
            ("handler",),
            buckets=HANDLER_BUCKETS,
            registry=r,
        )
        self._init_backlog(r)
        self._init_calls(r)
        self.lease_losses = Counter(
            "receiver_lease_losses",
            "Outcomes not recorded because the lease had run out (the work runs again), by "
            "kind: delivery (a handler run), follow_up (a create-call send).",
            ("kind",),
            registry=r,
        )

        # follow-up calls and the Vocode API
        self.follow_ups = Counter(
            "receiver_follow_ups",
            "Follow-up call intents by outcome (created, rejected, retried, held, unresolved: "
            "held because whether its call exists stayed unknown, refused_*, suppressed).",
            ("outcome",),
            registry=r,
        )
        self.vocode_duration = Histogram(
            "receiver_vocode_api_duration_seconds",
            "Calls to the Vocode API, by operation and status class of the answer "
            "(not_sent: failed before sending; unknown: sent, no answer read).",
            ("operation", "status_class"),
            buckets=VOCODE_BUCKETS,
            registry=r,
        )

        self._request_children = {
            (method, outcome): self.requests.labels(method, outcome)
            for method in METHODS
            for outcome in REQUEST_OUTCOMES
        }
        self._event_children = {kind: self.events.labels(kind) for kind in TYPE_LABELS}
        self._quarantined_children = {
            kind: self.quarantined_events.labels(kind) for kind in TYPE_LABELS
        }
        self._refusal_children = {r: self.http_refusals.labels(r) for r in HTTP_REFUSALS}
        self._follow_up_children = {o: self.follow_ups.labels(o) for o in FOLLOW_UP_OUTCOMES}
        for operation in VOCODE_OPERATIONS:
            for status_class in STATUS_CLASSES:
                self.vocode_duration.labels(operation, status_class)
        for kind in LEASE_KINDS:
            self.lease_losses.labels(kind)
        self._handlers: set[str] = set()
        # per handler: its counter of each outcome and its duration histogram, so that a
        # delivery costs two dict lookups rather than two labels() calls
        self._delivery_children: dict[str, tuple[dict[str, Any], Any]] = {}

    @classmethod
    def discarding(cls) -> Metrics:
        """Metrics nobody reads (a registry of their own, no process collectors): for a worker,
        sender or intake used without a service around it (the testing kit, benchmarks)."""
        return cls(process_metrics=False)

    # --- intake ----------------------------------------------------------------------------

    def request(self, method: str, outcome: str, seconds: float) -> None:
        """One webhook request answered (``outcome`` from :data:`REQUEST_OUTCOMES`)."""
        key = (method if method in ("GET", "POST") else "other", outcome)
        child = self._request_children.get(key)
        if child is None:
            _check(outcome, REQUEST_OUTCOMES, "request outcome")
        else:
            child.inc()
        self.intake_duration.observe(seconds)

    def http_refused(self, reason: str) -> None:
        """One request or connection refused by the HTTP bounds (:data:`HTTP_REFUSALS`)."""
        child = self._refusal_children.get(reason)
        if child is None:
            _check(reason, HTTP_REFUSALS, "HTTP refusal")
        else:
            child.inc()

    def stored(self, kind: str) -> None:
        """One event newly stored; a type without a model is counted as ``unknown``."""
        self._event_children.get(kind, self._event_children[UNKNOWN]).inc()

    def quarantined(self, kind: str) -> None:
        """One event newly stored in quarantine (also counted by :meth:`stored`)."""
        self._quarantined_children.get(kind, self._quarantined_children[UNKNOWN]).inc()

    # --- deliveries ------------------------------------------------------------------------

    def register_handlers(self, names: Iterable[str]) -> None:
        """Create every per-handler series at 0. Call once the routers are loaded."""
        for name in names:
            self._handlers.add(name)
            self._set_stats(name, 0, 0.0, 0)
            counters = {o: self.deliveries.labels(name, o) for o in DELIVERY_OUTCOMES}
            self._delivery_children[name] = (counters, self.handler_duration.labels(name))

    def handler_label(self, name: str) -> str:
        """``name`` if registered, else ``unregistered``: the handler label stays bounded."""
        return name if name in self._handlers else UNREGISTERED

    def delivery(self, handler: str, outcome: str, seconds: float | None = None) -> None:
        """One handler run finished with ``outcome`` (done, retry, dropped, skipped, dead).

        ``seconds`` is the handler's run time; None when the handler did not run.
        """
        children = self._delivery_children.get(handler)
        if children is None:
            label = self.handler_label(handler)
            children = (
                {o: self.deliveries.labels(label, o) for o in DELIVERY_OUTCOMES},
                self.handler_duration.labels(label),
            )
        counter = children[0].get(outcome)
        if counter is None:
            _check(outcome, DELIVERY_OUTCOMES, "delivery outcome")
        else:
            counter.inc()
        if seconds is not None:
            children[1].observe(seconds)

    # --- follow-up calls -------------------------------------------------------------------

    def follow_up(self, outcome: str) -> None:
        """One follow-up intent reached ``outcome`` (from :data:`FOLLOW_UP_OUTCOMES`)."""
        child = self._follow_up_children.get(outcome)
        if child is None:
            _check(outcome, FOLLOW_UP_OUTCOMES, "follow-up outcome")
        else:
            child.inc()

    def lease_lost(self, kind: str) -> None:
        """An outcome came after its lease ran out (``kind``: delivery, follow_up or call)."""
        self.lease_losses.labels(_check(kind, LEASE_KINDS, "lease kind")).inc()

    def vocode_call(self, operation: str, status: int | str | None, seconds: float) -> None:
        """One call to the Vocode API: ``status`` is the HTTP status, a class, or None."""
        _check(operation, VOCODE_OPERATIONS, "Vocode operation")
        self.vocode_duration.labels(operation, status_label(status)).observe(seconds)

    # --- exposition ------------------------------------------------------------------------

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (always, if no token)."""
    if token is None:
        return True
    offered = (header or "").encode()
    return hmac.compare_digest(offered, f"Bearer {token}".encode())


def metrics_endpoint(
    metrics: Metrics, token: str | None
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint serving ``metrics``; with a token, only to ``Bearer <token>``."""

    async def endpoint(request: Request) -> Response:
        if not authorized(request.headers.get("authorization"), token):
            return JSONResponse(
                {"error": "unauthorized", "detail": "send Authorization: Bearer <token>"},
                401,
                headers={"www-authenticate": "Bearer"},
            )
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return endpoint
