"""FastAPI + arq: ``uvicorn bench.peers.arq_app:app`` and ``python -m bench.peers.arq_app``.

The endpoint checks the token, validates the body, drops a delivery it has seen (``SET NX``
with a TTL), enqueues the raw body and answers 202; the worker handles the event and counts it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from arq import create_pool, run_worker
from arq.connections import ArqRedis, RedisSettings
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from bench.peers import HANDLED
from bench.peers.events import (
    REDIS_URL,
    SEEN_TTL_SECONDS,
    Envelope,
    check_token,
    event_key,
    handle,
)

REDIS = RedisSettings.from_dsn(REDIS_URL)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.queue = await create_pool(REDIS)
    yield
    await app.state.queue.aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/webhooks/vocode/{token}", status_code=202, dependencies=[Depends(check_token)])
async def receive(event: Envelope, request: Request) -> Any:
    body = await request.body()  # the bytes FastAPI validated (it keeps them)
    key = event_key(body)
    queue: ArqRedis = request.app.state.queue
    if not await queue.set(f"seen:{key}", 1, nx=True, ex=SEEN_TTL_SECONDS):
        return JSONResponse({"id": key, "duplicate": True}, 200)
    await queue.enqueue_job("handle_event", body.decode())
    return {"id": key}


async def handle_event(ctx: dict[str, Any], body: str) -> None:
    handle(body)
    await ctx["redis"].incr(HANDLED)


class WorkerSettings:
    functions = [handle_event]
    redis_settings = REDIS
    max_jobs = 64
    poll_delay = 0.05
    keep_result = 0  # nobody reads a result


def main() -> None:
    """``python -m bench.peers.arq_app``: the worker, logging at WARNING (arq's CLI logs every
    job at INFO)."""
    logging.basicConfig(level=logging.WARNING)
    run_worker(WorkerSettings)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
