"""What both peers share: the webhook's check, its envelope model, the de-duplication key, and
the handler, which does what the receiver's default handler (``handlers.log``) does."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from typing import Any

from fastapi import Header, HTTPException
from pydantic import BaseModel

from handlers.log import summary
from receiver.events import parse_event

TOKEN = os.environ.get("PEER_TOKEN", "")
REDIS_URL = os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379/15")
SEEN_TTL_SECONDS = 24 * 3600  # Vocode retries within minutes; a day is ample

log = logging.getLogger("bench.peers")


class Envelope(BaseModel):
    """A Vocode webhook body, as far as the endpoint needs it."""

    type: str
    call_id: str
    payload: dict[str, Any]


async def check_token(token: str = "", authorization: str | None = Header(default=None)) -> None:
    """The token in the path (as Vocode's webhook URL carries it) or as a bearer token
    (async: a plain ``def`` dependency would run in the thread pool, on every request)."""
    offered = [token]
    if authorization and authorization[:7].lower() == "bearer ":
        offered.append(authorization[7:].strip())
    if not TOKEN or not any(hmac.compare_digest(o.encode(), TOKEN.encode()) for o in offered):
        raise HTTPException(401, "a valid token is required")


def event_key(body: bytes) -> str:
    """Vocode's events carry no id: a delivery sent twice has the same bytes."""
    return "evt_" + hashlib.sha256(body).hexdigest()[:32]


def handle(body: str) -> None:
    """Parse the event into its typed Vocode model and log its PII-safe summary (INFO)."""
    event = parse_event(json.loads(body))
    log.info("call_event %s", summary(event))
