"""``/healthz`` (the process answers) and ``/readyz`` (it should get traffic).

Ready means the store is reachable, its schema current, it can commit (a probe write is
committed the way events are: through the SQLite writer's group commit, or in a PostgreSQL
transaction) and the workers run. A full disk or a read-only database therefore makes
``/readyz`` answer 503 while every write would get 503, and 200 again as soon as a commit
goes through.
"""

from __future__ import annotations

import asyncio

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.service import Services

log = structlog.get_logger("receiver.app")
STORE_DEADLINE_SECONDS = 5.0  # a store that takes longer to answer is not ready


def health_routes(services: Services) -> list[Route]:
    """``/healthz`` and ``/readyz`` for ``services``."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        store = services.store
        try:
            async with asyncio.timeout(STORE_DEADLINE_SECONDS):
                await store.ping()
                state = await store.schema_state()
        except Exception as exc:
            log.warning("not_ready", reason="store_unreachable", error=str(exc) or repr(exc))
            return _unavailable("store unreachable")
        if state.current != state.latest:
            return _unavailable(f"schema at version {state.current}, expected {state.latest}")
        try:
            async with asyncio.timeout(STORE_DEADLINE_SECONDS):
                await store.probe_write()
        except Exception as exc:
            log.warning("not_ready", reason="store_cannot_commit", error=str(exc) or repr(exc))
            return _unavailable("store cannot commit")
        if reason := await services.not_ready():
            return _unavailable(reason)
        return JSONResponse({"status": "ok", "schema_version": state.current})

    return [Route("/healthz", healthz), Route("/readyz", readyz)]


def _unavailable(reason: str) -> Response:
    return JSONResponse({"status": "unavailable", "reason": reason}, 503)
