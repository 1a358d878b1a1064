"""The ASGI application: ``create_app(settings) -> Starlette``.

Example::

    uvicorn --factory receiver.app:app_from_env
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.intake import Intake
from receiver.intake import Route as EventRoute
from receiver.metrics import Metrics
from receiver.registry import Registry, load_registry
from receiver.settings import Settings, load_settings
from receiver.store import Store, create_store
from receiver.worker import Worker, running_worker

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
) -> Starlette:
    """Build the service. ``store`` is opened and closed by the app's lifespan.

    ``registry`` defaults to the routers named by ``RECEIVER_HANDLERS``; with ``with_worker``
    the same process runs their deliveries (``receiver serve``).
    """
    store = store if store is not None else create_store(settings)
    metrics = metrics if metrics is not None else Metrics()
    registry = registry if registry is not None else load_registry(settings.handlers)
    intake = Intake(settings, store, metrics, route or registry.route)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        async with contextlib.AsyncExitStack() as stack:
            if with_worker and len(registry):
                worker = Worker(store, registry, settings, metrics=metrics)
                app.state.worker = await stack.enter_async_context(running_worker(worker, store))
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
        return JSONResponse({"status": "ok", "schema_version": state.current})

    async def metrics_endpoint(request: Request) -> Response:
        if settings.metrics_token is not None:
            expected = f"Bearer {settings.metrics_token}"
            if request.headers.get("authorization", "") != expected:
                return JSONResponse({"error": "unauthorized", "detail": None}, 401)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse({"error": reason, "detail": exc.detail}, exc.status_code)

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("internal_error", path=request.url.path)
        return JSONResponse({"error": "internal", "detail": None}, 500)

    prefix = settings.webhook_path.rstrip("/")
    webhook = [Route(prefix + "/{token}", intake, methods=None), Route(prefix or "/", intake, methods=None)]
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
    app.state.store = store
    app.state.metrics = metrics
    app.state.settings = settings
    return app


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    settings = load_settings()
    settings.check_serving()
    return create_app(settings)
