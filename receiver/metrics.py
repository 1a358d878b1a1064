"""Every Prometheus metric of the service, on an injectable registry.

Labels come only from the bounded sets declared here (event types, outcomes, methods) or
from registered handler names; never from a call id, event id or phone number.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, Info

from receiver import __version__
from receiver.events import EVENT_TYPES, UNKNOWN

REQUEST_OUTCOMES = (
    "accepted",
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
TYPE_LABELS = (*EVENT_TYPES, UNKNOWN)


class Metrics:
    """The service's metrics. One instance per registry; tests pass a fresh registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        Info("receiver_build", "Version of vocode-receiver.", registry=r).info(
            {"version": __version__}
        )
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
        self.intake_duration = Histogram(
            "receiver_intake_duration_seconds",
            "Time from request to answer at the webhook endpoint.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        for method in METHODS:
            for outcome in REQUEST_OUTCOMES:
                self.requests.labels(method, outcome)
        for kind in TYPE_LABELS:
            self.events.labels(kind)

    def request(self, method: str, outcome: str, seconds: float) -> None:
        self.requests.labels(method if method in ("GET", "POST") else "other", outcome).inc()
        self.intake_duration.observe(seconds)

    def stored(self, kind: str) -> None:
        self.events.labels(kind if kind in EVENT_TYPES else UNKNOWN).inc()
