"""``/healthz`` (the process answers) and ``/readyz`` (it should get traffic)."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.service import Services

log = structlog.get_logger("receiver.app")


def health_routes(services: Services) -> list[Route]:
    """``/healthz`` and ``/readyz`` for ``services``."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await services.store.ping()
            state = await services.store.schema_state()
        except Exception as exc:
            log.warning("not_ready", reason="store_unreachable", error=str(exc))
            return _unavailable("store unreachable")
        if state.current != state.latest:
            return _unavailable(f"schema at version {state.current}, expected {state.latest}")
        if reason := await services.not_ready():
            return _unavailable(reason)
        return JSONResponse({"status": "ok", "schema_version": state.current})

    return [Route("/healthz", healthz), Route("/readyz", readyz)]


def _unavailable(reason: str) -> Response:
    return JSONResponse({"status": "unavailable", "reason": reason}, 503)
