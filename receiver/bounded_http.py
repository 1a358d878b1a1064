"""uvicorn's httptools protocol with bounds: what one connection may cost the process.

uvicorn bounds none of this by itself with httptools: a request head of any size is buffered
(and its header values joined, slower than linearly, on the event loop), a half-sent head or
a body shorter than its ``Content-Length`` holds its connection for ever, a connection that
never sends a byte is never closed, and connections are accepted until the file limit.
:class:`BoundedHttpToolsProtocol` adds, per connection:

- a cap on the bytes of each request head (request line and headers): past it the head is
  answered ``431`` and the connection closed; the parser is fed no more than the cap (a head
  that begins inside a chunk of pipelined requests, no more than that chunk, and it is
  measured exactly when it ends);
- a deadline per request: the whole request (head and body) must arrive within
  ``request_timeout`` of its first byte, else ``408`` (or, when the answer has already been
  sent, a plain close);
- the keep-alive limit before the first request too (uvicorn starts it only after an answer);

and per process, a cap on open connections: one more is closed at once, with ``503``.

Each refusal is reported through :attr:`Bounds.refused` (a metric and a rate-limited log
line, see :mod:`receiver.serving`). The class is made per server by :func:`bounded_protocol`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

Refused = Callable[[str, int], None]
"""Told (reason, open connections) on each refusal: headers_too_large, timeout,
too_many_connections."""


@dataclass(frozen=True)
class Bounds:
    """What one connection and one process may hold."""

    max_header_bytes: int
    request_timeout: float
    max_connections: int
    refused: Refused = lambda reason, open_connections: None


def _answer(status: bytes, error: str, detail: str) -> bytes:
    body = json.dumps({"error": error, "detail": detail}).encode()
    head = (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
    )
    return head + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """An :class:`HttpToolsProtocol` held to :attr:`bounds` (set by :func:`bounded_protocol`)."""

    bounds: Bounds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # from a request's start (or the last one's end) to its head's end
        self._head_bytes = 0  # fed to the parser since then
        self._messages = 0  # requests read whole: tells a head that ended apart from one cut
        self._unmeasured = False  # a head began inside a chunk already being parsed
        # One timer per connection, not per request: it is armed for the first request's
        # deadline and, when it fires, looks at the request in progress then (a timer made and
        # cancelled per request cost a kept-alive connection a quarter of its parsing time).
        self._deadline: float | None = None  # when the request in progress must be in
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False  # nothing more is read from this connection
        self._parked: bytes | None = None  # a refusal to write once earlier answers are out

    # the connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.bounds.max_connections:
            self.bounds.refused("too_many_connections", len(self.connections))
            self._refused = True
            transport.write(
                _answer(b"503 Service Unavailable", "unavailable", "too many connections")
            )
            transport.close()
            return
        # a connection that never sends a byte is idle like one between requests
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head and not self._head_bytes:
            self._unmeasured = False  # the head begins with this chunk: it is counted whole
        while data and not self._refused:
            if not self._in_head:
                super().data_received(data)
                return
            if self._deadline is None:  # the first byte of a request
                self._deadline = self.loop.time() + self.bounds.request_timeout
                if self._timer is None:
                    self._timer = self.loop.call_at(self._deadline, self._check_deadline)
            room = self.bounds.max_header_bytes - self._head_bytes
            if len(data) <= room:
                self._head_bytes += len(data)
                super().data_received(data)
                return
            # never feed the parser a head past the cap: feed up to it, then see
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            messages = self._messages
            super().data_received(piece)
            if self.transport.is_closing():
                return
            if self._in_head and self._messages == messages:
                self._refuse_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._parked is not None and self.cycle.response_complete:
            self._close_with(self._parked)

    # parser callbacks -------------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        if self._unmeasured:  # it began in a chunk that ended the request before (pipelining)
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self.bounds.max_header_bytes:
                self._refuse_head()
                return
        self._in_head = False
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._deadline = None
        if self._refused:
            return
        self._in_head, self._head_bytes, self._unmeasured = True, 0, True
        self._messages += 1
        super().on_message_complete()

    # refusals ---------------------------------------------------------------------------------

    def _refuse_head(self) -> None:
        limit = self.bounds.max_header_bytes
        self._refuse(
            "headers_too_large",
            b"431 Request Header Fields Too Large",
            f"the request line and headers may hold {limit} bytes",
        )

    def _check_deadline(self) -> None:
        self._timer = None
        if self._deadline is None:  # no request in progress: the next one arms it again
            return
        if self.loop.time() < self._deadline:  # a later request's: wait for that one
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)
            return
        seconds = self.bounds.request_timeout
        self._refuse(
            "timeout", b"408 Request Timeout", f"the request did not arrive within {seconds:g} s"
        )

    def _refuse(self, reason: str, status: bytes, detail: str) -> None:
        """Answer ``status`` if nothing answered this request yet, then close; read no more."""
        if self._refused or self.transport.is_closing():
            return
        self._refused, self._deadline = True, None
        self.bounds.refused(reason, len(self.connections))
        answer = _answer(status, reason, detail)
        cycle = self.cycle
        if self._in_head:  # the request has no cycle: ``cycle`` is an earlier request's
            if cycle is not None and not cycle.response_complete:
                self._parked = answer  # pipelined: earlier answers go first
                self.flow.pause_reading()
                return
            self._close_with(answer)
            return
        if cycle.response_started:  # answered early (a 401, say): nothing to add
            answer = b""
        if not cycle.response_complete:
            cycle.disconnected = True  # the app reads a disconnect
            cycle.message_event.set()
        self._close_with(answer)

    def _close_with(self, answer: bytes) -> None:
        self._parked = None
        if answer:
            self.transport.write(answer)
        self.transport.close()


def bounded_protocol(bounds: Bounds) -> type[BoundedHttpToolsProtocol]:
    """A protocol class for uvicorn's ``http=`` held to ``bounds``."""
    return type("BoundedHttpTools", (BoundedHttpToolsProtocol,), {"bounds": bounds})
