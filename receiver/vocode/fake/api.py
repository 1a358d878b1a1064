"""The fake Vocode API as a Starlette app: the calls endpoints plus ``/_fake/*`` controls.

``/v1/calls/create``, ``/v1/calls``, ``/v1/calls/list`` and ``/v1/calls/end`` answer as
Vocode does (bearer key, 401, 404, 422 with FastAPI's body). The controls, which need no
key: ``GET|POST|DELETE /_fake/faults``, ``GET /_fake/created``, ``GET /_fake/calls``,
``POST /_fake/play``, ``POST /_fake/reset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
import struct
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from receiver.vocode.fake.play import call_life, post_events_async
from receiver.vocode.fake.samples import load_sample
from receiver.vocode.fake.state import FakeState, Fault
from receiver.vocode.models import CreateCallRequest

log = structlog.get_logger("receiver.vocode.fake")
_faults_adapter = TypeAdapter(list[Fault])


class PlayRequest(BaseModel):
    """What to play: a call's webhooks, posted to ``url``. Unset numbers come from the
    fake's record of ``call_id`` when it has one, else from the samples."""

    model_config = ConfigDict(extra="forbid")

    url: str
    call_id: str | None = None
    to_number: str | None = None
    from_number: str | None = None
    n_messages: int = Field(4, ge=0, le=1000)
    did_not_connect: bool = False
    telephony_status: str = "no-answer"
    headers: dict[str, str] | None = None


def plan_play(state: FakeState, req: PlayRequest) -> tuple[str, list[dict[str, Any]]]:
    """The call id and webhook bodies for ``req``; marks a known call as ended or failed."""
    call_id = req.call_id or str(uuid.uuid4())
    known = state.get(call_id) or {}
    seed = load_sample("event_phone_call_connected")["payload"]
    events = call_life(
        call_id=call_id,
        to_number=req.to_number or known.get("to_number") or seed["to_phone_number"],
        from_number=req.from_number or known.get("from_number") or seed["from_phone_number"],
        n_messages=req.n_messages,
        connected=not req.did_not_connect,
        telephony_status=req.telephony_status,
    )
    if known and req.did_not_connect:
        state.update(call_id, status="error", stage_outcome="call_did_not_connect")
    elif known:
        transcript = next(e for e in events if e["type"] == "event_transcript")
        state.update(
            call_id,
            status="ended",
            stage="picked_up",
            transcript=transcript["payload"]["transcript"],
            recording_available=True,
        )
    return call_id, events


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status, headers=headers)


def _missing_query(name: str) -> JSONResponse:
    return _error(422, [{"type": "missing", "loc": ["query", name], "msg": "Field required"}])


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


class FakeApi:
    """The ASGI app of the fake, over ``state``."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self._app = Starlette(
            routes=[
                Route("/v1/calls/create", self.create, methods=["POST"]),
                Route("/v1/calls", self.get_call, methods=["GET"]),
                Route("/v1/calls/list", self.list_calls, methods=["GET"]),
                Route("/v1/calls/end", self.end_call, methods=["POST"]),
                Route("/_fake/faults", self.faults, methods=["GET", "POST", "DELETE"]),
                Route("/_fake/created", self.created, methods=["GET"]),
                Route("/_fake/calls", self.calls, methods=["GET"]),
                Route("/_fake/play", self.play, methods=["POST"]),
                Route("/_fake/reset", self.reset, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["fake.raw_send"] = send  # the server's own send, to drop the connection
        await self._app(scope, receive, send)

    def _unauthorized(self, request: Request) -> Response | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            return _error(401, "Not authenticated", {"www-authenticate": "Bearer"})
        expected = self.state.api_key
        if expected is not None and not hmac.compare_digest(key.encode(), expected.encode()):
            return _error(401, "Invalid API key", {"www-authenticate": "Bearer"})
        return None

    async def create(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        fault = self.state.next_fault() or Fault(kind="delay")
        body = await request.body()
        if fault.kind != "delay" or fault.latency:
            log.info("fake_fault", kind=fault.kind, status=fault.status, latency=fault.latency)
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.kind == "reset_before_commit":
            return _Drop()
        if fault.kind == "status":
            headers = {"retry-after": fault.retry_after} if fault.retry_after else None
            return JSONResponse(fault.answer_body(), fault.status, headers=headers)
        try:
            call_request = CreateCallRequest.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False)
            for error in errors:
                error["loc"] = ("body", *error["loc"])
            return _error(422, errors)
        call = self.state.commit(call_request)
        log.info("fake_call_created", call_id=call["id"])
        if fault.kind == "commit_then_drop":
            return _Drop()
        if fault.kind == "commit_then_timeout" and await _until_disconnect(
            request.receive, fault.hang_seconds
        ):
            return _Nothing()
        return JSONResponse(call)

    async def get_call(self, request: Request) -> Response:
        return self._one_call(request, self.state.get)

    def _one_call(self, request: Request, act: Callable[[str], dict[str, Any] | None]) -> Response:
        """``?id=``: the call ``act`` answers for it, or 401 / 422 / 404."""
        if (denied := self._unauthorized(request)) is not None:
            return denied
        call_id = request.query_params.get("id")
        if not call_id:
            return _missing_query("id")
        call = act(call_id)
        return JSONResponse(call) if call is not None else _error(404, "Call not found")

    async def list_calls(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        q = request.query_params
        try:
            page, size = int(q.get("page", "1")), int(q.get("size", "50"))
        except ValueError:
            return _error(422, [{"type": "int_parsing", "loc": ["query"], "msg": "not an int"}])
        if page < 1 or not 1 <= size <= 100:
            return _error(422, [{"type": "range", "loc": ["query"], "msg": "out of range"}])
        newest_first = q.get("sort_desc", "true").lower() != "false"
        return JSONResponse(self.state.page(page, size, newest_first))

    async def end_call(self, request: Request) -> Response:
        return self._one_call(request, self.state.end)

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
                return _error(422, str(exc))
        pending = [f.model_dump(mode="json") for f in self.state.pending_faults()]
        return JSONResponse({"pending": pending})

    async def created(self, request: Request) -> Response:
        return JSONResponse([r.model_dump(mode="json") for r in self.state.created()])

    async def calls(self, request: Request) -> Response:
        return JSONResponse([c.model_dump(mode="json") for c in self.state.calls()])

    async def play(self, request: Request) -> Response:
        try:
            req = PlayRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return _error(422, exc.errors(include_url=False, include_context=False))
        call_id, events = plan_play(self.state, req)
        result = await post_events_async(req.url, call_id, events, headers=req.headers)
        return JSONResponse(result.as_dict())

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})
