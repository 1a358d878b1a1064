"""FastAPI + Celery: ``uvicorn bench.peers.celery_app:app`` and
``celery -A bench.peers.celery_app worker``.

The endpoint as in :mod:`bench.peers.arq_app`; Celery's publish blocks, so it runs in the
thread pool. The worker handles the event and counts it.
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
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

celery = Celery("peers", broker=REDIS_URL)
celery.conf.update(
    task_ignore_result=True,  # nobody reads a result
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
store = redis.Redis.from_url(REDIS_URL)  # each process opens its own connections
app = FastAPI()


@celery.task
def handle_event(body: str) -> None:
    handle(body)
    store.incr(HANDLED)


def _enqueue(key: str, body: str) -> bool:
    if not store.set(f"seen:{key}", 1, nx=True, ex=SEEN_TTL_SECONDS):
        return False
    handle_event.delay(body)
    return True


@app.post("/webhooks/vocode/{token}", status_code=202, dependencies=[Depends(check_token)])
async def receive(event: Envelope, request: Request) -> Any:
    body = await request.body()  # the bytes FastAPI validated (it keeps them)
    key = event_key(body)
    if not await run_in_threadpool(_enqueue, key, body.decode()):
        return JSONResponse({"id": key, "duplicate": True}, 200)
    return {"id": key}
