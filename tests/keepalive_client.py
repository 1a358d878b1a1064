"""A small keep-alive HTTP/1.1 client for tests that post thousands of requests.

httpx spends about a millisecond of CPU per request, which on a small machine makes the test
process, not the server, the bottleneck. This client writes a request and reads the answer
on one connection that it keeps, and nothing more: enough for JSON answers with a
Content-Length (what uvicorn sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit


class KeepAlive:
    """One connection to ``url``'s host and port; one request at a time."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: Any) -> tuple[int, Any]:
        """POST ``body`` as JSON; answers (status, decoded JSON). Raises OSError when the
        connection fails (it is opened again on the next call)."""
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            assert self._reader is not None
            self._writer.write(head + data)
            await self._writer.drain()
            answer = await self._reader.readuntil(b"\r\n\r\n")
            status = int(answer.split(b" ", 2)[1])
            length = next(
                int(line.split(b":", 1)[1])
                for line in answer.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            payload = await self._reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, StopIteration) as exc:
            await self.close()
            raise OSError(f"POST {path}: {exc!r}") from exc
        return status, json.loads(payload)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
