"""The live tail: new events pushed to the browser as Server-Sent Events, like ``stripe listen``.

One :class:`TailHub` per process serves every open tail. A tail reads the store when a
commit may have stored events (the store's ``on_commit``, which a PostgreSQL store also
calls on a NOTIFY from another process) or every few seconds, but never more often than
twice a second, and then only the newest 50 events after the last one it sent (the primary
key, newest first): what it costs intake does not grow with the rate of events. When more
arrived meanwhile, it says how many it left out.

A stream resumes where it stopped: the browser's ``EventSource`` sends the last id it saw
(``Last-Event-ID``) when it reconnects. Streams end when the server stops (``serve`` and
``worker`` tell the hub on SIGTERM) and after :data:`STREAM_SECONDS` in any case, so that
no open console holds a shutting-down server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from receiver.errors import StoreError
from receiver.store import Store
from receiver.store.records import EventPage

if TYPE_CHECKING:
    from receiver.console.app import Console

log = structlog.get_logger("receiver.console")

MIN_INTERVAL = 0.5  # seconds between two reads of one tail
IDLE_POLL = 2.0  # read this often even when no commit was seen (another process's events)
BATCH = 50  # newest events per read; older ones are counted, not sent
KEEPALIVE = 15.0  # a comment line this often keeps proxies from closing an idle stream
STREAM_SECONDS = 300.0  # then the stream ends and the browser reconnects where it was


class TailHub:
    """Wakes the open tails when the store commits; ends them when the server stops."""

    def __init__(self, store: Store, *, interval: float = MIN_INTERVAL) -> None:
        self.store = store
        self.interval = interval
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._streams = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def streams(self) -> int:
        """How many tails are open."""
        return self._streams

    def _committed(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    def close(self) -> None:
        """End every stream (and refuse new ones)."""
        self._closing.set()
        self._committed()

    def close_threadsafe(self) -> None:
        """:meth:`close`, from a signal handler or another thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.close)

    async def pages(
        self, after_seq: int, *, lifetime: float = STREAM_SECONDS
    ) -> AsyncIterator[EventPage | None]:
        """The events stored after ``after_seq``, page by page as they come; None now and
        then when nothing came (time for a keep-alive). Ends on :meth:`close`."""
        self._loop = asyncio.get_running_loop()
        self._streams += 1
        if self._streams == 1:
            self.store.on_commit.append(self._committed)
        try:
            async for page in self._follow(after_seq, time.monotonic() + lifetime):
                yield page
        finally:
            self._streams -= 1
            if self._streams == 0:
                with contextlib.suppress(ValueError):
                    self.store.on_commit.remove(self._committed)

    async def _follow(self, after: int, until: float) -> AsyncIterator[EventPage | None]:
        read_at, quiet_since = 0.0, time.monotonic()
        while not self._closing.is_set() and time.monotonic() < until:
            if read_at:  # the first read is at once: what came since the page was drawn
                await self._pause(self._wake, IDLE_POLL)  # a commit, or time to look anyway
            await self._pause(self._closing, read_at + self.interval - time.monotonic())
            if self._closing.is_set():
                return
            read_at = time.monotonic()
            try:
                page = await self.store.events_after(after, limit=BATCH, newest=True)
            except StoreError as exc:
                log.warning("console_tail_read_failed", error=str(exc))
                page = EventPage([])
            if page.events:
                after = page.last_seq or after
                quiet_since = read_at
                yield page
            elif read_at - quiet_since >= KEEPALIVE:
                quiet_since = read_at
                yield None

    async def _pause(self, event: asyncio.Event, seconds: float) -> None:
        if seconds <= 0 or event.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


def routes(console: Console) -> list[Route]:
    async def page(request: Request) -> Response:
        recent = await console.store.list_events(limit=20)
        after = recent[0].seq if recent else await console.store.first_seq_at() - 1
        return console.render(
            request, "tail.html", nav="tail", after=after,
            events=[console.view.summary(r) for r in reversed(recent)],
        )  # fmt: skip

    async def stream(request: Request) -> Response:
        start = request.headers.get("last-event-id") or request.query_params.get("after", "")
        after = int(start) if start.isdigit() else await console.store.first_seq_at() - 1
        return StreamingResponse(
            _sse(console, after),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},  # nginx: pass each event on at once
        )

    return [Route("/tail", page), Route("/tail/stream", stream)]


async def _sse(console: Console, after: int) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    async for page in console.tail.pages(after):
        if page is None:
            yield ": keep-alive\n\n"
            continue
        if page.skipped:
            yield f"event: skipped\ndata: {json.dumps({'count': page.skipped})}\n\n"
        for event in page.events:
            data = json.dumps(console.view.summary(event), ensure_ascii=False)
            yield f"id: {event.seq}\nevent: stored\ndata: {data}\n\n"
