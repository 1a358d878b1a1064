"""Not sent or unknown: a request cut short while it was written is not sent (from
httpcore's trace); one reset once it is all in, on a real socket, is unknown."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import httpcore
import httpx
import pytest

from receiver.errors import VocodeNotSent, VocodeOutcomeUnknown
from receiver.vocode import VocodeClient
from receiver.vocode.answers import error_for_transport
from receiver.vocode.client import _Writing

BIG = 32 << 20  # far more than the sockets' buffers hold: writing it cannot finish early


def resetting_server(read_whole_request: bool) -> Callable[[], Iterator[int]]:
    """A one-connection server: reads the request's head (and, if asked, all of it), then
    resets the connection (SO_LINGER 0), never answering."""

    def serve() -> Iterator[int]:
        listener = socket.socket()
        # a small fixed receive buffer (no autotuning, which may grow it to tens of MiB):
        # the request cannot fit in the buffers while the server does not read it
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def run() -> None:
            conn, _ = listener.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            if read_whole_request:
                head, body = data.split(b"\r\n\r\n", 1)
                length = next(
                    int(line.split(b":")[1]) for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )  # fmt: skip
                while len(body) < length:
                    body += conn.recv(1 << 20)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        yield port
        thread.join(timeout=30)
        listener.close()

    return serve


@pytest.fixture
def cut_after_writing() -> Iterator[int]:
    yield from resetting_server(read_whole_request=True)()


def big_request(make_request) -> object:
    return make_request(context={"padding": "p" * BIG})


async def test_a_reset_after_the_request_is_written_is_unknown(
    cut_after_writing, make_request
) -> None:
    """The connection reset once the whole request was in: the call may exist."""
    async with VocodeClient("key", base_url=f"http://127.0.0.1:{cut_after_writing}") as client:
        with pytest.raises(VocodeOutcomeUnknown):
            await client.create_call(big_request(make_request))


async def test_a_write_broken_by_the_connection_is_not_sent() -> None:
    """A WriteError in the trace of writing the request (httpcore swallows it and reports
    the read that follows) means part of the request never left: not sent."""
    writing = _Writing()
    await writing("http11.send_request_headers.complete", {})
    await writing("http11.send_request_body.failed", {"exception": httpcore.WriteError("reset")})
    reset = httpx.ReadError("reset")
    error = error_for_transport("create_call", reset, cut_short=writing.cut_short)
    assert isinstance(error, VocodeNotSent)


@pytest.mark.parametrize(
    "events",
    [
        [],  # no trace (a test transport): nothing is known
        ["http11.send_request_body.complete"],
        ["http11.send_request_body.failed:timeout"],  # queued bytes may still leave
    ],
)
async def test_anything_else_after_sending_is_unknown(events: list[str]) -> None:
    """A request written whole, one whose write timed out, or one with no trace: unknown."""
    writing = _Writing()
    for name in events:
        name, _, why = name.partition(":")
        info = {"exception": httpcore.WriteTimeout("slow")} if why else {}
        await writing(name, info)
    reset = httpx.ReadError("reset")
    error = error_for_transport("create_call", reset, cut_short=writing.cut_short)
    assert isinstance(error, VocodeOutcomeUnknown)
