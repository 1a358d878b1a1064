"""Not sent or unknown, decided on a real socket: a server that resets the connection while
the request is still being written, and one that resets it once the request is all in."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from receiver.errors import VocodeNotSent, VocodeOutcomeUnknown
from receiver.vocode import VocodeClient

BIG = 32 << 20  # far more than the sockets' buffers hold: writing it cannot finish early


def resetting_server(read_whole_request: bool) -> Callable[[], Iterator[int]]:
    """A one-connection server: reads the request's head (and, if asked, all of it), then
    resets the connection (SO_LINGER 0), never answering."""

    def serve() -> Iterator[int]:
        listener = socket.create_server(("127.0.0.1", 0))
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
def cut_while_writing() -> Iterator[int]:
    yield from resetting_server(read_whole_request=False)()


@pytest.fixture
def cut_after_writing() -> Iterator[int]:
    yield from resetting_server(read_whole_request=True)()


def big_request(make_request) -> object:
    return make_request(context={"padding": "p" * BIG})


async def test_a_reset_while_the_request_is_written_is_not_sent(
    cut_while_writing, make_request
) -> None:
    """The connection reset before the last byte left: Vocode cannot have acted on it."""
    async with VocodeClient("key", base_url=f"http://127.0.0.1:{cut_while_writing}") as client:
        with pytest.raises(VocodeNotSent):
            await client.create_call(big_request(make_request))


async def test_a_reset_after_the_request_is_written_is_unknown(
    cut_after_writing, make_request
) -> None:
    """The connection reset once the whole request was in: the call may exist."""
    async with VocodeClient("key", base_url=f"http://127.0.0.1:{cut_after_writing}") as client:
        with pytest.raises(VocodeOutcomeUnknown):
            await client.create_call(big_request(make_request))
