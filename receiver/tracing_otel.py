"""Tracing with the OpenTelemetry SDK (the ``otel`` extra): see :mod:`receiver.tracing`.

The provider is configured the standard way: span exporters by name from the
``opentelemetry_traces_exporter`` entry points (``otlp_proto_http``, ``console``, …, as
``OTEL_TRACES_EXPORTER`` names them), each behind a batch processor (``OTEL_BSP_*``), the
sampler from ``OTEL_TRACES_SAMPLER``, the resource from ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (``service.name`` defaults to ``vocode-receiver``). It becomes
the global provider, so spans a handler makes with the OpenTelemetry API join the trace.

Example (tests)::

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = OtelTracing(provider)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from receiver import __version__
from receiver.errors import DependencyError
from receiver.tracing import Kind, Span, Tracing

_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
_PROPAGATOR = TraceContextTextMapPropagator()


class _OtelSpan(Span):
    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, attributes: Mapping[str, Any]) -> None:
        self._span.set_attributes({k: v for k, v in attributes.items() if v is not None})

    def failed(self, kind: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, kind))

    def traceparent(self) -> str | None:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(self._span))
        return carrier.get("traceparent")


class OtelTracing(Tracing):
    """Spans through ``provider``'s tracer."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("vocode-receiver", __version__)

    @classmethod
    def from_exporters(cls, names: tuple[str, ...]) -> OtelTracing:
        """A provider exporting to the named exporters, installed as the global one."""
        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "vocode-receiver"}))
        provider = TracerProvider(resource=resource)
        for name in names:
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
        trace.set_tracer_provider(provider)
        return cls(provider)

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
        context = None
        if parent is not None:
            context = _PROPAGATOR.extract({"traceparent": parent})
        elif headers is not None:
            context = _PROPAGATOR.extract(headers)
        with self._tracer.start_as_current_span(
            name,
            context=context,
            kind=_KINDS[kind],
            attributes={k: v for k, v in (attributes or {}).items() if v is not None},
            record_exception=False,  # an exception's message may carry a number or a token
            set_status_on_exception=False,
        ) as span:
            yield _OtelSpan(span)

    def current(self) -> Span:
        return _OtelSpan(trace.get_current_span())

    def shutdown(self) -> None:
        self.provider.shutdown()


def _exporter(name: str) -> SpanExporter:
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        hint = " (pip install opentelemetry-exporter-otlp-proto-grpc)" if "grpc" in name else ""
        raise DependencyError(f"OTEL_TRACES_EXPORTER: no span exporter named {name!r}{hint}")
    exporter: SpanExporter = next(iter(found)).load()()
    return exporter
