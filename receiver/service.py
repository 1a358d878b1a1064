"""The composition root: every part of the service, built once from the settings.

``receiver serve`` and ``receiver worker`` (and ``uvicorn --factory receiver.app:app_from_env``)
build :class:`Services` with :func:`build_services`, then wrap them in an app
(:mod:`receiver.app`); the app's lifespan is :meth:`Services.run`.

Example::

    services = build_services(settings)
    async with services.run():
        ...  # the store is open, the worker and the sender are running
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from aiolimiter import AsyncLimiter

from receiver.calls.enrich import Enricher
from receiver.calls.reconciler import Reconciler
from receiver.delivery.registry import Registry, load_registry
from receiver.delivery.worker import Worker
from receiver.errors import SettingsError
from receiver.events import TERMINAL_TYPES
from receiver.follow_ups.sender import Sender
from receiver.loop import running
from receiver.metrics import Metrics
from receiver.retention import Retention
from receiver.settings import Settings
from receiver.store import Store, create_store
from receiver.tracing import NO_TRACING, Tracing, tracing_from_environment
from receiver.vocode.client import VocodeClient

log = structlog.get_logger("receiver.app")

ReadyCheck = Callable[[], "str | Awaitable[str | None] | None"]
"""Answers None when ready, else the reason it is not (``/readyz`` says the first)."""


@dataclass
class Services:
    """The parts of one receiver process, and what runs while it serves."""

    settings: Settings
    store: Store
    metrics: Metrics
    registry: Registry
    vocode: VocodeClient | None = None  # the Vocode API, when an API key is set
    worker: Worker | None = None  # runs deliveries, when handlers are loaded
    sender: Sender | None = None  # sends follow-up calls, when there is a Vocode client
    reconciler: Reconciler | None = None  # looks up calls whose terminal event did not come
    retention: Retention | None = None  # purges on a schedule, when RECEIVER_RETENTION_DAYS
    ready_checks: Sequence[ReadyCheck] = ()
    tracing: Tracing = NO_TRACING  # spans, when OTEL_* configures an exporter
    _owns_vocode: bool = field(default=False, repr=False)
    _owns_tracing: bool = field(default=False, repr=False)

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Open the store, then start the gauges' refresh, the worker and the sender; stop
        them and close everything on exit."""
        await self.store.open()
        try:
            async with contextlib.AsyncExitStack() as stack:
                interval = self.settings.metrics_refresh_seconds
                await stack.enter_async_context(
                    self.metrics.refreshing(
                        self.store.delivery_stats,
                        interval,
                        self.store.follow_up_stats,
                        self.store.call_stats,
                    )
                )
                if self.vocode is not None and self._owns_vocode:
                    await stack.enter_async_context(self.vocode)
                if self.worker is not None:
                    await stack.enter_async_context(running(self.worker, self.store))
                if self.sender is not None:
                    await stack.enter_async_context(running(self.sender, self.store))
                elif self.worker is not None:
                    log.info("follow_ups_not_sent", reason="RECEIVER_VOCODE_API_KEY is not set")
                if self.reconciler is not None:  # its calls come due with time, not commits
                    await stack.enter_async_context(running(self.reconciler, None))
                if self.retention is not None:
                    await stack.enter_async_context(self.retention.running())
                yield
        finally:
            await self.store.close()
            if self._owns_tracing:
                self.tracing.shutdown()  # exports what is buffered

    async def not_ready(self) -> str | None:
        """Why this process should not get traffic yet, or None (see ``/readyz``)."""
        if self.worker is not None and not self.worker.running:
            return "workers not running"
        for check in self.ready_checks:
            reason = check()
            if inspect.isawaitable(reason):
                reason = await reason
            if reason:
                return reason
        return None


def build_services(
    settings: Settings,
    *,
    workers: bool = True,
    store: Store | None = None,
    metrics: Metrics | None = None,
    registry: Registry | None = None,
    vocode: VocodeClient | None = None,
    ready_checks: Sequence[ReadyCheck] = (),
    tracing: Tracing | None = None,
) -> Services:
    """Everything ``settings`` describe; the arguments replace a part (tests, benchmarks).

    With ``workers`` (``receiver serve``, ``receiver worker``), the process also runs the
    deliveries of the loaded handlers and sends follow-up calls; without, it only receives.
    """
    metrics = metrics if metrics is not None else Metrics()
    owns_tracing = tracing is None
    tracing = tracing if tracing is not None else tracing_from_environment()
    registry = registry if registry is not None else load_registry(settings.handlers)
    metrics.register_handlers(registry.handlers)
    store = store if store is not None else create_store(settings)
    owns_vocode = vocode is None and settings.vocode_api_key is not None
    if owns_vocode:
        vocode = VocodeClient.from_settings(
            settings, observe=metrics.vocode_call, tracing=tracing
        )
    services = Services(
        settings, store, metrics, registry, vocode, ready_checks=ready_checks,
        tracing=tracing, _owns_vocode=owns_vocode, _owns_tracing=owns_tracing,
    )  # fmt: skip
    if not workers:
        return services
    # one rate cap for every request the service makes on its own: sends, lookups, enrichment
    subscribed = settings.subscriptions
    limiter = AsyncLimiter(settings.follow_up_rate_per_second, 1)
    enricher = None if vocode is None else Enricher(store, vocode, limiter)
    _check_enrich(registry, enricher)
    if len(registry):
        services.worker = Worker(
            store, registry, settings, metrics=metrics, vocode=vocode, tracing=tracing,
            enricher=enricher,
        )  # fmt: skip
    if vocode is not None:
        services.sender = Sender(
            store, vocode, settings, metrics=metrics, tracing=tracing, limiter=limiter
        )
    if vocode is not None and settings.reconcile and set(TERMINAL_TYPES) & set(subscribed):
        services.reconciler = Reconciler(
            store, vocode, settings, route=registry.route, limiter=limiter, metrics=metrics
        )
    if settings.retention_days is not None:
        services.retention = Retention(store, settings.retention_days)
    return services


def _check_enrich(registry: Registry, enricher: Enricher | None) -> None:
    """A handler registered with ``enrich=True`` needs the Vocode API: refuse to start without."""
    wanting = [name for name, spec in registry.handlers.items() if spec.enrich]
    if wanting and enricher is None:
        raise SettingsError(
            f"RECEIVER_VOCODE_API_KEY: not set, but handler {wanting[0]} is registered with "
            "enrich=True (it is given the call as the Vocode API answers it)"
        )
