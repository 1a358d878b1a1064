"""The ASGI applications: the whole service, or its workers alone, around built services.

Example::

    uvicorn --factory receiver.app:app_from_env

    app = create_app(settings)                          # what `receiver serve` runs
    app = worker_app(build_services(settings))          # what `receiver worker` runs
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import TypeVar

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from receiver.delivery.registry import Registry
from receiver.health import health_routes
from receiver.intake.endpoint import Intake
from receiver.metrics import Metrics, metrics_endpoint
from receiver.service import ReadyCheck, Services, build_services
from receiver.settings import Settings, load_settings
from receiver.store import Store
from receiver.tracing import Tracing
from receiver.vocode.client import VocodeClient

log = structlog.get_logger("receiver.app")
App = TypeVar("App", bound=Starlette)


def create_app(
    settings: Settings,
    *,
    workers: bool = True,
    store: Store | None = None,
    metrics: Metrics | None = None,
    registry: Registry | None = None,
    vocode: VocodeClient | None = None,
    ready_checks: Sequence[ReadyCheck] = (),
    tracing: Tracing | None = None,
) -> Starlette:
    """The whole service (``receiver serve``): the webhook endpoint, and the workers and
    the sender in the same process. The arguments replace parts (see :func:`build_services`)."""
    services = build_services(
        settings, workers=workers, store=store, metrics=metrics, registry=registry,
        vocode=vocode, ready_checks=ready_checks, tracing=tracing,
    )  # fmt: skip
    return service_app(services)


def service_app(services: Services) -> Starlette:
    """The webhook endpoint, health and metrics, running ``services`` while it serves."""
    intake = Intake(
        services.settings,
        services.store,
        services.metrics,
        services.registry.route,
        services.tracing,
    )
    prefix = services.settings.webhook_path.rstrip("/")
    webhook = [
        Route(prefix + "/{token}", intake, methods=None),
        Route(prefix or "/", intake, methods=None),
    ]
    app = _app(services, webhook, ReceiverApp)
    app.serve_webhook(prefix, intake)
    return app


def worker_app(services: Services) -> Starlette:
    """Workers only (``receiver worker``): health and metrics on their own port."""
    return _app(services, [], Starlette)


class ReceiverApp(Starlette):
    """Starlette, with the webhook's two routes matched first, by hand.

    The same requests reach the same endpoint as through the router (the routes stay in it,
    for anything that lists them); a webhook request skips Starlette's middleware and router,
    which cost it about as much as everything uvicorn does for it. The endpoint answers
    every error itself, so the error middleware had nothing to do for it. Measured:
    bench/README.md ("The pipeline").
    """

    _webhook: tuple[str, str, Intake] | None = None  # its path, its path + "/", endpoint

    def serve_webhook(self, prefix: str, intake: Intake) -> None:
        """Serve ``prefix`` and ``prefix/{token}`` with ``intake`` ahead of the router."""
        self._webhook = (prefix or "/", prefix + "/", intake)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._webhook is not None and scope["type"] == "http" and not scope.get("root_path"):
            path: str = scope["path"]
            exact, under, intake = self._webhook
            if path == exact:
                scope["app"], scope["path_params"] = self, {}
                return await intake(scope, receive, send)
            if path.startswith(under):
                token = path[len(under) :]
                if token and "/" not in token:
                    scope["app"], scope["path_params"] = self, {"token": token}
                    return await intake(scope, receive, send)
        await super().__call__(scope, receive, send)


def _app(services: Services, routes: Sequence[BaseRoute], kind: type[App]) -> App:
    metrics = Route("/metrics", metrics_endpoint(services.metrics, services.settings.metrics_token))
    extra: list[BaseRoute] = []
    console = None
    if services.settings.console_enabled:
        from receiver.console.app import Console

        console = Console(services)
        extra.append(console.mount())
    app = kind(
        routes=[*routes, *health_routes(services), metrics, *extra],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lambda app: services.run(),
    )
    app.state.services = services
    app.state.console = console
    return app


def stop_streams(app: Starlette) -> None:
    """End the console's open live tails: the server is stopping (safe in a signal handler)."""
    console = getattr(app.state, "console", None)
    if console is not None:
        console.stop_streams()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    return JSONResponse({"error": reason, "detail": exc.detail}, exc.status_code)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("internal_error", path=request.url.path)
    return JSONResponse({"error": "internal", "detail": None}, 500)


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
    second, such pauses of tens of milliseconds were most of the intake's p99. Measured
    (``python -m bench intake``, 32 connections, 18 paired rounds): p99 0.58x of that without
    it, lower in 17 of 18 rounds; requests per second unchanged (0.99x).
    """
    gc.collect()
    gc.freeze()
