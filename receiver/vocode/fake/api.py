"""The fake Vocode API as a Starlette app: the ``/v1`` endpoints plus ``/_fake/*`` controls.

``/v1/calls/create`` and ``GET /v1/calls`` (here, with their scripted faults) and the
endpoints of :mod:`.endpoints` answer as Vocode's FastAPI server does (bearer key, 401, 404,
422 with FastAPI's body), in the official SDK's shapes. The controls, which need no key:
``GET|POST|DELETE /_fake/faults``, ``GET /_fake/created``, ``GET /_fake/calls``,
``GET /_fake/webhooks``, ``POST /_fake/play``, ``POST /_fake/reset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
from typing import Any

import structlog
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from receiver.vocode.fake import endpoints
from receiver.vocode.fake.faults import Fault
from receiver.vocode.fake.http import Refused, check_key, error, parse_body
from receiver.vocode.fake.play import PlayRequest, plan_play, post_events_async
from receiver.vocode.fake.requests import CreateCallBody
from receiver.vocode.fake.state import FakeState, NotFound

log = structlog.get_logger("receiver.vocode.fake")
_faults_adapter = TypeAdapter(list[Fault])


def _abort(send: Send) -> bool:
    """Reset the connection under ``send`` (uvicorn's), with RST rather than FIN."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    # without SO_LINGER a plain close still leaves the client without an answer
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True


async def _until_disconnect(receive: Receive, limit: float) -> bool:
    """Wait until the client goes away (True) or ``limit`` seconds pass (False)."""
    try:
        async with asyncio.timeout(limit):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


class _Drop(Response):
    """Answer nothing: reset the connection."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _abort(scope["fake.raw_send"]):
            raise RuntimeError("this server does not let the fake drop a connection")
        await _until_disconnect(receive, 5.0)


class _Nothing(Response):
    """The client is gone: send nothing."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


async def _before_commit(fault: Fault) -> Response | None:
    """What ``fault`` answers before the request has any effect (None: go on)."""
    if fault.kind != "delay" or fault.latency:
        log.info("fake_fault", kind=fault.kind, status=fault.status, latency=fault.latency)
    if fault.latency:
        await asyncio.sleep(fault.latency)
    if fault.kind == "reset_before_commit":
        return _Drop()
    if fault.kind == "status":
        headers = {"retry-after": fault.retry_after} if fault.retry_after else None
        return JSONResponse(fault.answer_body(), fault.status, headers=headers)
    return None


async def _after_commit(fault: Fault, request: Request) -> Response | None:
    """What ``fault`` answers once the request had its effect (None: the answer)."""
    if fault.kind == "commit_then_drop":
        return _Drop()
    if fault.kind == "commit_then_timeout" and await _until_disconnect(
        request.receive, fault.hang_seconds
    ):
        return _Nothing()
    return None


class FakeApi:
    """The ASGI app of the fake, over ``state``."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        routes = [
            Route("/v1/calls/create", self.create, methods=["POST"]),
            Route("/v1/calls", self.get_call, methods=["GET"]),
        ]
        for method, path, endpoint in endpoints.ROUTES:
            routes.append(Route(path, self._serving(endpoint), methods=[method]))
        routes += [
            Route("/_fake/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_fake/created", self.created, methods=["GET"]),
            Route("/_fake/calls", self.calls, methods=["GET"]),
            Route("/_fake/webhooks", self.webhooks, methods=["GET"]),
            Route("/_fake/play", self.play, methods=["POST"]),
            Route("/_fake/reset", self.reset, methods=["POST"]),
        ]
        self._app = Starlette(routes=routes)

    def _serving(self, endpoint: endpoints.Endpoint) -> Any:
        async def serve(request: Request) -> Response:
            return await endpoints.answer(self.state, request, endpoint)

        return functools.update_wrapper(serve, endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["fake.raw_send"] = send  # the server's own send, to drop the connection
        await self._app(scope, receive, send)

    async def create(self, request: Request) -> Response:
        try:
            check_key(request, self.state.api_key)
        except Refused as refused:
            return refused.response
        with self.state.creating():
            return await self._create(request)

    async def _create(self, request: Request) -> Response:
        fault = self.state.next_fault("create_call") or Fault(kind="delay")
        body = await request.body()
        before = await _before_commit(fault)
        if before is not None:
            return before
        try:
            call = self.state.commit(parse_body(body, CreateCallBody))
        except Refused as refused:
            return refused.response
        except NotFound as exc:
            return error(404, str(exc))
        log.info("fake_call_created", call_id=call["id"])
        return await _after_commit(fault, request) or JSONResponse(call)

    async def get_call(self, request: Request) -> Response:
        """``GET /v1/calls?id=``, counted per id (:meth:`FakeState.lookups`), with the faults
        scripted for ``get_call``."""
        try:
            check_key(request, self.state.api_key)
            call_id = endpoints.query_id(request)
        except Refused as refused:
            return refused.response
        self.state.looked_up(call_id)
        fault = self.state.next_fault("get_call") or Fault(kind="delay")
        before = await _before_commit(fault)
        if before is not None:
            return before
        answer = await endpoints.answer(self.state, request, endpoints.get_call)
        return await _after_commit(fault, request) or answer

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.clear_faults()
        elif request.method == "POST":
            try:
                data = await request.json()
                items = data["faults"] if isinstance(data, dict) else data
                times = int(data.get("times", 1)) if isinstance(data, dict) else 1
                self.state.add_faults(_faults_adapter.validate_python(items), times)
            except (ValueError, KeyError, TypeError) as exc:
                return error(422, str(exc))
        pending = [f.model_dump(mode="json") for f in self.state.pending_faults()]
        return JSONResponse({"pending": pending})

    async def created(self, request: Request) -> Response:
        bodies = self.state.created()
        return JSONResponse([b.model_dump(mode="json", exclude_unset=True) for b in bodies])

    async def calls(self, request: Request) -> Response:
        return JSONResponse(self.state.calls())

    async def webhooks(self, request: Request) -> Response:
        return JSONResponse(self.state.webhooks())

    async def play(self, request: Request) -> Response:
        try:
            req = PlayRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return error(422, exc.errors(include_url=False, include_context=False))
        call_id, events, dropped = plan_play(self.state, req)
        result = await post_events_async(
            req.url, call_id, events, headers=req.headers, dropped=dropped
        )
        return JSONResponse(result.as_dict())

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})
