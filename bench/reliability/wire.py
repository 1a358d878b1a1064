"""HTTP by hand for the reliability suite: requests as raw bytes, and a kept-alive client.

httpx cannot send what the suite needs to send (a head that never ends, a body shorter than
its length, bytes that are not UTF-8 in a query), and costs more CPU per request than the
server under test on a small machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from bench.reliability.proc import TOKEN

HOOK = f"/webhooks/vocode/{TOKEN}"


def post(body: bytes, *, headers: str = "", path: str = HOOK, length: int | None = None) -> bytes:
    """A POST of ``body`` as JSON (``length`` overrides its Content-Length)."""
    size = len(body) if length is None else length
    return (
        f"POST {path} HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n{headers}\r\n"
    ).encode() + body


def get(query: str, *, path: str = HOOK) -> bytes:
    return f"GET {path}?{query} HTTP/1.1\r\nHost: receiver\r\n\r\n".encode()


async def exchange(port: int, data: bytes, *, timeout: float = 30.0) -> int | None:
    """Send ``data`` on a new connection; the answer's status, or None if the connection
    closed without one or none came within ``timeout``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
        async with asyncio.timeout(timeout):
            line = await reader.readline()
        return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None
    except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class KeepAlive:
    """One connection, one request at a time; reopened after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, *, timeout: float = 30.0) -> tuple[int, Any, float]:
        """(status, decoded answer, seconds). Raises OSError when the exchange fails."""
        started = time.perf_counter()
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self._reader is not None
            self._writer.write(post(body))
            await self._writer.drain()
            async with asyncio.timeout(timeout):
                head = await self._reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )  # fmt: skip
                answer = await self._reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, StopIteration, TimeoutError) as exc:
            await self.close()
            raise OSError(repr(exc)) from exc
        if b"connection: close" in head.lower():
            await self.close()
        return int(head.split(b" ", 2)[1]), json.loads(answer), time.perf_counter() - started

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def event(call_id: str, kind: str = "event_message", **payload: Any) -> bytes:
    return json.dumps({"type": kind, "call_id": call_id, "payload": payload}).encode()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
