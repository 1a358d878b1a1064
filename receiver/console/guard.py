"""The console's door: a pure ASGI middleware in front of every console route.

- ``?token=T`` with an operator token: a session cookie is set and the browser is sent
  (303) to the same page without the token; a wrong token gets the 401 page.
- ``Authorization: Bearer T``, or a valid session cookie: the request goes on, with its
  :class:`~receiver.console.auth.Session` in ``scope["console.session"]``.
- Anything else: the 401 page, which shows no data. Only ``/static/`` is open to all.

Every answer carries headers that keep it out of frames, caches and referrers, and a
content security policy that allows the console's own files only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiver.console.auth import COOKIE, ConsoleAuth

HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # "no-referrer" would make form posts Origin: null
    "cache-control": "no-store",
}

Unauthorized = Callable[[Request, str], Awaitable[Response]]
"""Renders the 401 page for a request, with a reason (``missing`` or ``wrong_token``)."""


class Guard:
    """Lets operators in (see the module doc); ``unauthorized`` renders the 401 page."""

    def __init__(self, app: ASGIApp, auth: ConsoleAuth, unauthorized: Unauthorized) -> None:
        self.app = app
        self.auth = auth
        self.unauthorized = unauthorized

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        if scope.get("path", "").startswith(self.auth.path.rstrip("/") + "/static/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response = await self._login(request)
        if response is None:
            session = self.auth.bearer(request.headers.get("authorization"))
            session = session or self.auth.read_session(request.cookies.get(COOKIE))
            if session is not None:
                scope["console.session"] = session
                await self.app(scope, receive, send)
                return
            response = await self.unauthorized(request, "missing")
        await response(scope, receive, send)

    async def _login(self, request: Request) -> Response | None:
        """None without ``?token=``; else the redirect that sets the session, or a refusal."""
        given = request.query_params.get("token")
        if given is None:
            return None
        name = self.auth.check_token(given)
        if name is None:
            return await self.unauthorized(request, "wrong_token")
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        location = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(location, status_code=303)
        response.set_cookie(
            COOKIE,
            self.auth.open_session(name),
            max_age=self.auth.max_age,
            path=self.auth.path,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in HEADERS.items():
                headers.setdefault(name, value)
        await send(message)

    return sending
