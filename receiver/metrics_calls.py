"""The metrics of the calls the receiver knows (``receiver/calls``): how many it tracks, what
their lookups found, how they were settled, and the events it synthesised. Part of
:class:`receiver.metrics.Metrics`.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

LOOKUP_OUTCOMES = ("ended", "did_not_connect", "in_progress", "not_found", "rate_limited", "failed")
"""What one ``GET /v1/calls?id=`` of the reconciler found."""
RECONCILE_OUTCOMES = ("synthesized", "reconciled", "not_found", "unreconciled")
"""How the reconciler settled a call: the call's new status."""
SYNTHESIZED_TYPES = ("event_phone_call_ended", "event_phone_call_did_not_connect")


class CallMetrics:
    """Calls tracked and open, lookups, calls settled by the reconciler, synthesised events."""

    def _init_calls(self, r: CollectorRegistry) -> None:
        self.calls_tracked = Counter(
            "receiver_calls_tracked",
            "Calls first known from one of their events (a call a follow-up created is known "
            "from its creation: receiver_follow_ups_total{outcome=\"created\"}).",
            registry=r,
        )
        self.calls_tracked.inc(0)
        self.calls_open = Gauge(
            "receiver_calls_open",
            "Calls known and not ended: no terminal event yet, not given up (from the store; "
            "the same in every process: aggregate with max).",
            registry=r,
        )
        self.call_lookups = Counter(
            "receiver_call_lookups",
            "Lookups (GET /v1/calls?id=) of calls whose terminal event did not come, by what "
            "they found.",
            ("outcome",),
            registry=r,
        )
        self.calls_reconciled = Counter(
            "receiver_calls_reconciled",
            "Calls the reconciler settled, by their new status: synthesized (the terminal "
            "event was made), reconciled (nothing to make), not_found (the API does not know "
            "it), unreconciled (given up).",
            ("outcome",),
            registry=r,
        )
        self.events_synthesized = Counter(
            "receiver_events_synthesized",
            "Terminal events the receiver made from the call's state because Vocode's never "
            "came, by type.",
            ("type",),
            registry=r,
        )
        self._lookup_children = {o: self.call_lookups.labels(o) for o in LOOKUP_OUTCOMES}
        self._reconciled_children = {
            o: self.calls_reconciled.labels(o) for o in RECONCILE_OUTCOMES
        }
        self._synthesized_children = {
            t: self.events_synthesized.labels(t) for t in SYNTHESIZED_TYPES
        }

    def call_tracked(self) -> None:
        """A call became known from one of its events."""
        self.calls_tracked.inc()

    def call_lookup(self, outcome: str) -> None:
        """One lookup found ``outcome`` (from :data:`LOOKUP_OUTCOMES`)."""
        _child(self._lookup_children, outcome, "lookup outcome").inc()

    def call_reconciled(self, outcome: str) -> None:
        """The reconciler settled a call (``outcome`` from :data:`RECONCILE_OUTCOMES`)."""
        _child(self._reconciled_children, outcome, "reconcile outcome").inc()

    def event_synthesized(self, kind: str) -> None:
        """A terminal event of type ``kind`` was synthesised and stored."""
        _child(self._synthesized_children, kind, "synthesized type").inc()

    def set_call_stats(self, stats: Any) -> None:
        """Set the open-calls gauge from one read of the store (``open``: ``CallStats``)."""
        self.calls_open.set(stats.open)


def _child(children: dict[str, Counter], value: str, what: str) -> Counter:
    if value not in children:
        raise ValueError(f"{what} {value!r} is not one of {tuple(children)}")
    return children[value]
