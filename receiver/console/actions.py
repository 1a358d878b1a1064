"""The pages that act: deliveries (replay), follow-ups (release, cancel), do-not-call list.

Every action is a POST with the session's CSRF token (:meth:`Console.action`), then a 303
back to a page that says what was done (post/redirect/get: a reload never repeats it).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from receiver.delivery.replay import replay
from receiver.errors import InvalidNumber
from receiver.events import EVENT_TYPES
from receiver.store.records import DELIVERY_STATUSES, FOLLOW_UP_STATUSES, DeliveryFilter

if TYPE_CHECKING:
    from receiver.console.app import Console

PAGE = 50


def routes(console: Console) -> list[Route]:
    deliveries = Deliveries(console)
    follow_ups = FollowUps(console)
    return [
        Route("/deliveries", deliveries.list),
        Route("/deliveries/replay", console.action(deliveries.replay_matching), methods=["POST"]),
        Route("/deliveries/{id:int}", deliveries.show),
        Route(
            "/deliveries/{id:int}/replay",
            console.action(deliveries.replay_one),
            methods=["POST"],
        ),
        Route("/follow-ups", follow_ups.list),
        Route("/follow-ups/release", console.action(follow_ups.release), methods=["POST"]),
        Route("/follow-ups/cancel", console.action(follow_ups.cancel), methods=["POST"]),
        Route("/do-not-call", follow_ups.dnc),
        Route("/do-not-call/add", console.action(follow_ups.dnc_add), methods=["POST"]),
        Route("/do-not-call/remove", console.action(follow_ups.dnc_remove), methods=["POST"]),
    ]


def _back(console: Console, path: str, **query: object) -> Response:
    return RedirectResponse(f"{console.base}{path}?{urlencode(query)}", 303)


def _pick(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


class Deliveries:
    def __init__(self, console: Console) -> None:
        self.console = console

    def _filter(self, source: dict[str, str]) -> DeliveryFilter:
        handler = (source.get("handler") or "").strip() or None
        return DeliveryFilter(
            status=_pick(source.get("status"), DELIVERY_STATUSES),
            handler=handler,
            type=_pick(source.get("type"), (*EVENT_TYPES, "unknown")),
        )

    async def list(self, request: Request) -> Response:
        q = dict(request.query_params)
        where = self._filter(q)
        before = q.get("before", "")
        page = DeliveryFilter(
            status=where.status, handler=where.handler, type=where.type, limit=PAGE,
            before=int(before) if before.isdigit() else None,
        )  # fmt: skip
        rows = await self.console.store.list_deliveries(page)
        kept = {k: v for k, v in (("status", where.status), ("handler", where.handler),
                                  ("type", where.type)) if v}  # fmt: skip
        older = urlencode({**kept, "before": rows[-1].id}) if len(rows) == PAGE else None
        handlers = sorted(self.console.services.registry.handlers)
        return self.console.render(
            request, "deliveries.html", nav="deliveries", rows=rows, where=where,
            statuses=DELIVERY_STATUSES, types=EVENT_TYPES, handlers=handlers, older=older,
            newest=urlencode(kept) if page.before is not None else None,
        )  # fmt: skip

    async def show(self, request: Request) -> Response:
        record = await self.console.store.get_delivery(request.path_params["id"])
        if record is None:
            return self.console.refuse(request, 404, "Not found", "No delivery has this id.")
        return self.console.render(request, "delivery.html", nav="deliveries", d=record)

    async def replay_one(self, request: Request, form: FormData) -> Response:
        delivery_id = request.path_params["id"]
        quiet = form.get("no_side_effects") == "on"
        done = await replay(
            self.console.store, DeliveryFilter(ids=(delivery_id,)), side_effects=not quiet
        )
        flash = "replay_none" if not done.requeued else "replayed_quiet" if quiet else "replayed"
        return _back(self.console, f"/deliveries/{delivery_id}", flash=flash, n=done.requeued)

    async def replay_matching(self, request: Request, form: FormData) -> Response:
        """Every dead delivery matching the list's filter (dead, whatever the form says)."""
        source = {k: v for k, v in form.items() if isinstance(v, str)}
        where = self._filter(source)
        where = DeliveryFilter(status="dead", handler=where.handler, type=where.type)
        quiet = form.get("no_side_effects") == "on"
        done = await replay(self.console.store, where, side_effects=not quiet)
        flash = "replay_none" if not done.requeued else "replayed_quiet" if quiet else "replayed"
        kept = {k: v for k, v in (("handler", where.handler), ("type", where.type)) if v}
        return _back(self.console, "/deliveries", status="dead", **kept, flash=flash,
                     n=done.requeued)  # fmt: skip


class FollowUps:
    def __init__(self, console: Console) -> None:
        self.console = console
        key = "|".join(console.services.settings.console_tokens).encode()
        self._ref_key = hmac.new(key, b"receiver.console.dnc", hashlib.sha256).digest()

    async def list(self, request: Request) -> Response:
        q = request.query_params
        status = _pick(q.get("status"), FOLLOW_UP_STATUSES)
        at, _, key = q.get("before", "").partition("|")
        before = (float(at), key) if key and _is_number(at) else None
        rows = await self.console.store.list_follow_ups(status=status, limit=PAGE, before=before)
        kept = {"status": status} if status else {}
        older = None
        if len(rows) == PAGE:
            older = urlencode({**kept, "before": f"{rows[-1].created_at!r}|{rows[-1].key}"})
        counts = await self.console.store.follow_up_counts()
        return self.console.render(
            request, "follow_ups.html", nav="follow-ups", rows=rows, status=status,
            statuses=FOLLOW_UP_STATUSES, counts=counts, older=older,
            newest=urlencode(kept) if before else None,
        )  # fmt: skip

    async def release(self, request: Request, form: FormData) -> Response:
        key = str(form.get("key", ""))
        done = await self.console.store.release_follow_up(key)
        return _back(self.console, "/follow-ups", flash="released" if done else "unchanged")

    async def cancel(self, request: Request, form: FormData) -> Response:
        key = str(form.get("key", ""))
        done = await self.console.store.cancel_follow_up(key)
        return _back(self.console, "/follow-ups", flash="cancelled" if done else "unchanged")

    def ref(self, number: str) -> str:
        """An entry's name in a page: not the number, which may be masked there."""
        return hmac.new(self._ref_key, number.encode(), hashlib.sha256).hexdigest()[:24]

    async def dnc(self, request: Request, error: str | None = None) -> Response:
        entries = await self.console.store.dnc_list()
        rows = [(self.ref(n), n, reason, at) for n, reason, at in entries]
        return self.console.render(
            request, "dnc.html", nav="do-not-call", rows=rows, error=error,
            status_code=400 if error else 200,
        )  # fmt: skip

    async def dnc_add(self, request: Request, form: FormData) -> Response:
        number = str(form.get("number", ""))
        reason = str(form.get("reason", "")).strip() or None
        try:
            await self.console.store.dnc_add(number, reason)
        except InvalidNumber as exc:
            return await self.dnc(request, error=str(exc))
        return _back(self.console, "/do-not-call", flash="dnc_added")

    async def dnc_remove(self, request: Request, form: FormData) -> Response:
        ref = str(form.get("ref", ""))
        entries = await self.console.store.dnc_list()
        numbers = [n for n, _, _ in entries if hmac.compare_digest(self.ref(n), ref)]
        removed = bool(numbers) and await self.console.store.dnc_remove(numbers[0])
        flash = "dnc_removed" if removed else "dnc_missing"
        return _back(self.console, "/do-not-call", flash=flash)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
