"""Tracing, optional: one trace per event, from the intake request through the store to
every handler attempt and every Vocode API request its follow-ups make.

Off unless an exporter is configured by the standard OpenTelemetry variables
(``OTEL_TRACES_EXPORTER``, ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``;
``OTEL_SDK_DISABLED=true`` turns it off) *and* the ``otel`` extra is installed
(``pip install 'vocode-receiver[otel]'``). Off, nothing of OpenTelemetry is imported and
:data:`NO_TRACING` answers every call with a shared object that does nothing; the hot paths
check :attr:`Tracing.enabled` first.

The span of the intake request is stored with the event as a W3C ``traceparent``
(``events.trace_context``), so a handler attempt in any process is its child; a handler run's
own span goes with the follow-ups it asks for (``follow_ups.trace_context``), so the sender's
Vocode requests join the same trace. Spans name routes by their template
(``POST /webhooks/vocode/{token}``) and carry no path, query, header or body: the webhook
token, phone numbers and message text never reach a span.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import structlog

from receiver.settings import tracing_exporters

log = structlog.get_logger("receiver.tracing")
Kind = Literal["server", "client", "internal"]


class Span:
    """A span as the receiver uses it; this one does nothing (tracing is off)."""

    def set(self, attributes: Mapping[str, Any]) -> None:
        """Set attributes (``{"receiver.outcome": "done"}``); None values are left out."""

    def failed(self, kind: str) -> None:
        """Mark the span's status as an error; ``kind`` names it (an exception's type name,
        never its message, which may carry a number or a token)."""

    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` of this span, to store and continue elsewhere."""
        return None


class Tracing:
    """No tracing: the default. :class:`receiver.tracing_otel.OtelTracing` is the real one."""

    enabled = False

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        kind: Kind = "internal",
        parent: str | None = None,
        headers: Mapping[str, str] | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Iterator[Span]:
        """A span, current while the block runs: a child of ``parent`` (a stored
        ``traceparent``), else of the ``traceparent`` in ``headers``, else of the current span."""
        yield NO_SPAN

    def current(self) -> Span:
        """The span current in this context (one that does nothing when there is none)."""
        return NO_SPAN

    def shutdown(self) -> None:
        """Export what is buffered and stop."""


NO_SPAN = Span()
NO_TRACING = Tracing()


def tracing_from_environment() -> Tracing:
    """The tracing the ``OTEL_*`` variables ask for: :data:`NO_TRACING` when they configure
    no exporter, or (with a warning) when the ``otel`` extra is not installed."""
    exporters = tracing_exporters()
    if not exporters:
        return NO_TRACING
    try:
        from receiver.tracing_otel import OtelTracing
    except ModuleNotFoundError as exc:
        log.warning(
            "tracing_unavailable",
            reason=f"OpenTelemetry is not installed ({exc.name}): "
            "pip install 'vocode-receiver[otel]'",
        )
        return NO_TRACING
    return OtelTracing.from_exporters(exporters)
