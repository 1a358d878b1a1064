"""The console as one mounted ASGI app: its pages, its door, its templates and files.

:class:`Console` is built from the running :class:`~receiver.service.Services` (the store is
the one ``serve`` or ``worker`` opened: the console opens nothing of its own) and mounted at
``RECEIVER_CONSOLE_PATH`` by :mod:`receiver.app`. Pages live in :mod:`.pages` (overview,
events, a call), :mod:`.actions` (deliveries, follow-ups, the do-not-call list) and
:mod:`.tail` (the live tail).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
import structlog
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from receiver.console.auth import ConsoleAuth, Session
from receiver.console.guard import Guard
from receiver.console.tail import TailHub
from receiver.console.views import Presenter
from receiver.service import Services
from receiver.times import clock

HERE = Path(__file__).parent
log = structlog.get_logger("receiver.console")

Action = Callable[[Request, FormData], Awaitable[Response]]


FLASHES = {
    "replayed": "Replayed {n} deliveries: pending again, due now.",
    "replayed_quiet": "Replayed {n} deliveries without side effects: follow-ups suppressed.",
    "replay_none": "Nothing to replay: no delivery matched that is not running.",
    "released": "Released: the intent is pending again (guards still apply).",
    "cancelled": "Cancelled: the intent will not be sent.",
    "unchanged": "Nothing changed: the intent is not in a status that allows it.",
    "dnc_added": "Added to the do-not-call list.",
    "dnc_removed": "Removed from the do-not-call list.",
    "dnc_missing": "That number is not on the do-not-call list.",
}


def flash_message(request: Request) -> str | None:
    """The message a redirect after an action asked for (``?flash=<code>&n=<count>``)."""
    template = FLASHES.get(request.query_params.get("flash", ""))
    if template is None:
        return None
    n = request.query_params.get("n", "0")
    return template.format(n=int(n) if n.isdigit() else 0)


class Console:
    """Everything the console's pages share: services, presenter, templates, the door."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        self.services = services
        self.store = services.store
        self.base = settings.console_path.rstrip("/")
        self.view = Presenter(settings)
        self.auth = ConsoleAuth(
            settings.console_tokens, path=self.base, hours=settings.console_session_hours
        )
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        env.filters["when"] = clock
        self.templates = Jinja2Templates(env=env)
        self.tail = TailHub(self.store)

    def mount(self) -> Mount:
        """The console at its path: every route behind :class:`~.guard.Guard`."""
        from receiver.console import actions, pages, tail

        routes: list[BaseRoute] = [
            *pages.routes(self),
            *actions.routes(self),
            *tail.routes(self),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        return Mount(self.base, app=Guard(Router(routes), self.auth, self.unauthorized))

    def stop_streams(self) -> None:
        """End every live tail now (the server is stopping); safe from a signal handler."""
        self.tail.close_threadsafe()

    # rendering --------------------------------------------------------------------------------

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> Response:
        session: Session | None = request.scope.get("console.session")
        context.setdefault("flash", flash_message(request))
        context.setdefault("nav", "")
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "base": self.base,
                "pii": self.view.pii,
                "csrf": session.csrf if session else "",
                "signed_in": session is not None,
                "view": self.view,
                **context,
            },
            status_code=status_code,
        )

    async def unauthorized(self, request: Request, reason: str) -> Response:
        """The 401 page: how to sign in, and nothing else."""
        response = self.render(request, "unauthorized.html", 401, reason=reason, flash=None)
        response.headers["www-authenticate"] = 'Bearer realm="receiver console"'
        return response

    def refuse(self, request: Request, status: int, title: str, detail: str) -> Response:
        return self.render(request, "error.html", status, title=title, detail=detail)

    def action(self, fn: Action) -> Callable[[Request], Awaitable[Response]]:
        """A state-changing endpoint: POST only, with the session's CSRF token (a Bearer
        request needs none) and, when the browser says where it comes from, from here."""

        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            session: Session = request.scope["console.session"]
            form = await _form(request)
            if form is None:
                return self.refuse(request, 413, "Too large", "This form is too large.")
            csrf = form.get("csrf")
            if not session.csrf_ok(csrf if isinstance(csrf, str) else None):
                log.warning("console_csrf_refused", path=request.url.path)
                return self.refuse(
                    request, 403, "Refused", "This form is missing its CSRF token or it is "
                    "wrong: reload the page and try again.",
                )  # fmt: skip
            origin = request.headers.get("origin")
            if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
                return self.refuse(request, 403, "Refused", "Cross-origin form posts are refused.")
            return await fn(request, form)

        return endpoint


MAX_FORM_BYTES = 64 * 1024


async def _form(request: Request) -> FormData | None:
    """The urlencoded fields of a console form (the only kind it posts), or None when the
    body is larger than any of its forms can be."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    fields: list[tuple[str, str | UploadFile]] = list(
        parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    )
    return FormData(fields)
