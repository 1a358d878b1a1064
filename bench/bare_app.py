"""The baseline: a bare Starlette app on the webhook's path that reads the body and answers 202.

Run with ``uvicorn bench.bare_app:app``; the receiver's intake is measured against it.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_ANSWER = b'{"id": "evt_bare"}'


async def accept(request: Request) -> Response:
    await request.body()
    return Response(_ANSWER, 202, media_type="application/json")


app = Starlette(routes=[Route("/webhooks/vocode/{token}", accept, methods=["POST"])])
