"""The fake's ``/v1`` endpoints (``calls/create`` and the get of a call take scripted
faults in :mod:`.api`, then answer here): read a call, list, end, fetch its recording;
create, read, list and update webhooks; read, list and update agents (as far as attaching
a webhook needs).

Each is ``async (state, request) -> Response`` and may raise what :func:`answer` turns into
an error: :class:`~.http.Refused`, :class:`~.state.NotFound` (404),
:class:`~.state.Unprocessable` (422).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import lru_cache

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from receiver.vocode.fake import recording
from receiver.vocode.fake.http import Refused, check_key, error, read_body, read_query
from receiver.vocode.fake.requests import (
    AgentUpdate,
    IdQuery,
    PageQuery,
    WebhookParams,
    WebhookUpdate,
)
from receiver.vocode.fake.state import FakeState, NotFound, Unprocessable

Endpoint = Callable[[FakeState, Request], Awaitable[Response]]


async def answer(state: FakeState, request: Request, endpoint: Endpoint) -> Response:
    """Run ``endpoint`` for a request with the right bearer key; errors as FastAPI words them."""
    try:
        check_key(request, state.api_key)
        return await endpoint(state, request)
    except Refused as refused:
        return refused.response
    except NotFound as exc:
        return error(404, str(exc))
    except Unprocessable as exc:
        return error(422, [{"type": "value_error", "loc": ["body"], "msg": str(exc)}])


def query_id(request: Request) -> str:
    """The ``id`` query parameter (422 when missing): a call's, webhook's or agent's."""
    return read_query(request, IdQuery).id


# calls -------------------------------------------------------------------------------------


async def get_call(state: FakeState, request: Request) -> Response:
    return JSONResponse(state.call(query_id(request)))


async def end_call(state: FakeState, request: Request) -> Response:
    return JSONResponse(state.end(query_id(request)))


async def list_calls(state: FakeState, request: Request) -> Response:
    q = read_query(request, PageQuery)
    return JSONResponse(state.calls_page(q.page, q.size, q.sort_desc is not False))


@lru_cache(maxsize=1)
def _wav() -> bytes:
    return recording.wav()


async def get_recording(state: FakeState, request: Request) -> Response:
    if not state.recording_available(query_id(request)):
        raise NotFound("Recording not found")
    return Response(_wav(), media_type="audio/wav")


# webhooks ----------------------------------------------------------------------------------


async def create_webhook(state: FakeState, request: Request) -> Response:
    return JSONResponse(state.create_webhook(await read_body(request, WebhookParams)))


async def get_webhook(state: FakeState, request: Request) -> Response:
    return JSONResponse(state.webhook(query_id(request)))


async def list_webhooks(state: FakeState, request: Request) -> Response:
    q = read_query(request, PageQuery)
    return JSONResponse(state.webhooks_page(q.page, q.size, q.sort_desc is not False))


async def update_webhook(state: FakeState, request: Request) -> Response:
    webhook_id = query_id(request)
    update = await read_body(request, WebhookUpdate)
    return JSONResponse(state.update_webhook(webhook_id, update))


# agents ------------------------------------------------------------------------------------


async def get_agent(state: FakeState, request: Request) -> Response:
    return JSONResponse(state.agent(query_id(request)))


async def list_agents(state: FakeState, request: Request) -> Response:
    q = read_query(request, PageQuery)
    return JSONResponse(state.agents_page(q.page, q.size, q.sort_desc is not False))


async def update_agent(state: FakeState, request: Request) -> Response:
    agent_id = query_id(request)
    update = await read_body(request, AgentUpdate)
    return JSONResponse(state.update_agent(agent_id, update))


ROUTES: list[tuple[str, str, Endpoint]] = [
    ("GET", "/v1/calls/list", list_calls),
    ("POST", "/v1/calls/end", end_call),
    ("GET", "/v1/calls/recording", get_recording),
    ("POST", "/v1/webhooks/create", create_webhook),
    ("GET", "/v1/webhooks", get_webhook),
    ("GET", "/v1/webhooks/list", list_webhooks),
    ("POST", "/v1/webhooks/update", update_webhook),
    ("GET", "/v1/agents", get_agent),
    ("GET", "/v1/agents/list", list_agents),
    ("POST", "/v1/agents/update", update_agent),
]
"""(method, path, endpoint) of every ``/v1`` route but ``calls/create`` and ``calls`` (the
get, which takes scripted faults: :mod:`.api`)."""
