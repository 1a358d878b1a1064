"""The ASGI application: ``create_app(settings) -> Starlette``.

Example::

    uvicorn --factory receiver.app:app_from_env
"""

from __future__ import annotations

import contextlib
import gc
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.delivery.registry import Registry, load_registry
from receiver.delivery.worker import Worker
from receiver.follow_ups.sender import Sender
from receiver.intake.endpoint import Intake
from receiver.intake.endpoint import Route as EventRoute
from receiver.loop import running
from receiver.metrics import Metrics
from receiver.metrics import metrics_endpoint as serve_metrics
from receiver.settings import Settings, load_settings
from receiver.store import Store, create_store
from receiver.vocode.client import VocodeClient

log = structlog.get_logger("receiver.app")


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    metrics: Metrics | None = None,
    route: EventRoute | None = None,
    registry: Registry | None = None,
    with_worker: bool = True,
    with_intake: bool = True,
    lifespan_hooks: list[Any] | None = None,
    ready_checks: list[Callable[[], Any]] | None = None,
    vocode: VocodeClient | None = None,
) -> Starlette:
    """Build the service. ``store`` is opened and closed by the app's lifespan.

    ``registry`` defaults to the routers named by ``RECEIVER_HANDLERS``; with ``with_worker``
    the same process runs their deliveries (``receiver serve``).
    """
    store = store if store is not None else create_store(settings)
    metrics = metrics if metrics is not None else Metrics()
    registry = registry if registry is not None else load_registry(settings.handlers)
    intake = Intake(settings, store, metrics, route or registry.route)
    metrics.register_handlers(registry.handlers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        async with contextlib.AsyncExitStack() as stack:
            if stats := getattr(store, "delivery_stats", None):  # gauges: read every few s
                interval = settings.metrics_refresh_seconds
                await stack.enter_async_context(metrics.refreshing(stats, interval))
            client = vocode
            if client is None and settings.vocode_api_key is not None:
                client = VocodeClient.from_settings(settings, observe=metrics.vocode_call)
                await stack.enter_async_context(client)
            app.state.vocode = client
            if with_worker and len(registry):
                worker = Worker(store, registry, settings, metrics=metrics, vocode=client)
                app.state.worker = await stack.enter_async_context(running(worker, store))
            if with_worker and client is not None:
                sender = Sender(store, client, settings, metrics=metrics)
                app.state.sender = await stack.enter_async_context(running(sender, store))
            elif with_worker:
                log.info("follow_ups_not_sent", reason="RECEIVER_VOCODE_API_KEY is not set")
            for hook in lifespan_hooks or ():
                await stack.enter_async_context(hook(app))
            yield
        await store.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await store.ping()
            state = await store.schema_state()
        except Exception as exc:
            log.warning("not_ready", reason="store_unreachable", error=str(exc))
            return JSONResponse({"status": "unavailable", "reason": "store unreachable"}, 503)
        if state.current != state.latest:
            reason = f"schema at version {state.current}, expected {state.latest}"
            return JSONResponse({"status": "unavailable", "reason": reason}, 503)
        worker = request.app.state.worker
        if with_worker and len(registry) and (worker is None or not worker.running):
            return JSONResponse({"status": "unavailable", "reason": "workers not running"}, 503)
        for check in ready_checks or ():  # each answers None (ready) or the reason it is not
            reason = check()
            if inspect.isawaitable(reason):
                reason = await reason
            if reason:
                return JSONResponse({"status": "unavailable", "reason": reason}, 503)
        return JSONResponse({"status": "ok", "schema_version": state.current})

    metrics_endpoint = serve_metrics(metrics, settings.metrics_token)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse({"error": reason, "detail": exc.detail}, exc.status_code)

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("internal_error", path=request.url.path)
        return JSONResponse({"error": "internal", "detail": None}, 500)

    prefix = settings.webhook_path.rstrip("/")
    webhook = [
        Route(prefix + "/{token}", intake, methods=None),
        Route(prefix or "/", intake, methods=None),
    ]
    app = Starlette(
        routes=[
            *(webhook if with_intake else []),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.worker = None
    app.state.sender = None
    app.state.store = store
    app.state.metrics = metrics
    app.state.settings = settings
    return app


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    from receiver.logs import configure

    settings = load_settings()
    configure(settings)  # after uvicorn's own logging set-up: its loggers join our pipeline
    settings.check_serving()
    app = create_app(settings)
    freeze_startup_heap()
    return app


def freeze_startup_heap() -> None:
    """Hide the objects alive at start-up (modules, models, the app) from the cyclic GC.

    Call once per serving process, after building the app. A full collection otherwise walks
    them all (some 55,000 objects) with the event loop stopped: at a few thousand requests a
    second, such pauses of tens of milliseconds were most of the intake's p99.
    """
    gc.collect()
    gc.freeze()
