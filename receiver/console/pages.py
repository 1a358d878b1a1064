"""The pages that only read: the overview, the events, one event, one call's timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from receiver.console.auth import COOKIE
from receiver.console.queries import call_timeline, overview
from receiver.events import EVENT_TYPES
from receiver.store.records import DeliveryFilter
from receiver.times import EXAMPLES, parse_when

if TYPE_CHECKING:
    from receiver.console.app import Console

PAGE = 50
FILTERS = ("type", "call_id", "since", "until", "quarantined")


def routes(console: Console) -> list[Route]:
    async def home(request: Request) -> Response:
        numbers = await overview(console.services)
        return console.render(request, "overview.html", nav="overview", **numbers)

    async def events(request: Request) -> Response:
        return await _events(console, request)

    async def event(request: Request) -> Response:
        record = await console.store.get_event(request.path_params["event_id"])
        if record is None:
            return console.refuse(request, 404, "Not found", "No event has this id.")
        deliveries = await console.store.list_deliveries(
            DeliveryFilter(call_id=record.call_id, limit=1000)
        )
        mine = [d for d in deliveries if d.event_id == record.id]
        return console.render(
            request, "event.html", nav="events", event=record, deliveries=mine
        )

    async def call(request: Request) -> Response:
        call_id = request.path_params["call_id"]
        timeline = await call_timeline(console.store, call_id)
        return console.render(request, "call.html", nav="events", t=timeline)

    async def find_call(request: Request) -> Response:
        call_id = request.query_params.get("call_id", "").strip()
        if not call_id:
            return RedirectResponse(f"{console.base}/events", 303)
        return RedirectResponse(f"{console.base}/calls/{quote(call_id, safe='')}", 303)

    async def logout(request: Request, form: object) -> Response:
        request.scope.pop("console.session", None)
        response = console.render(request, "unauthorized.html", reason="signed_out")
        response.delete_cookie(COOKIE, path=console.auth.path, httponly=True, samesite="strict")
        return response

    return [
        Route("/", home),
        Route("/logout", console.action(logout), methods=["POST"]),
        Route("/events", events),
        Route("/events/{event_id}", event),
        Route("/calls", find_call),
        Route("/calls/{call_id:path}", call),
    ]


async def _events(console: Console, request: Request) -> Response:
    q = request.query_params
    filters = {name: q.get(name, "").strip() for name in FILTERS}
    error = None
    since = until = None
    try:
        since = parse_when(filters["since"]) if filters["since"] else None
        until = parse_when(filters["until"]) if filters["until"] else None
    except ValueError as exc:
        error = f"{exc}"
    before, after = _seq(q.get("before")), _seq(q.get("after"))
    records = []
    if error is None:
        records = await console.store.list_events(
            type=filters["type"] or None,
            call_id=filters["call_id"] or None,
            quarantined=bool(filters["quarantined"]),
            since=since,
            until=until,
            before_seq=before,
            after_seq=after,
            limit=PAGE,
        )
    kept = {k: v for k, v in filters.items() if v}
    older = newer = None
    full = len(records) == PAGE
    if records and (full or after is not None):
        older = urlencode({**kept, "before": records[-1].seq})
    if records and (before is not None or (after is not None and full)):
        newer = urlencode({**kept, "after": records[0].seq})
    return console.render(
        request,
        "events.html",
        nav="events",
        events=[console.view.summary(r) for r in records],
        filters=filters,
        types=EVENT_TYPES,
        error=error,
        examples=EXAMPLES,
        older=older,
        newer=newer,
        newest=urlencode(kept) if (before is not None or after is not None) else None,
    )


def _seq(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
