"""The HTTP bounds of a real ``receiver serve``, spoken to over raw sockets.

Each test opens TCP connections to the subprocess and writes bytes by hand: heads too large,
requests that stop half-way, connections that never speak, more connections than allowed.
Socket timeouts here are deadlines for an answer that must come, not measurements.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_serve_process import RECEIVER, receiver_env, wait_until_healthy

pytestmark = pytest.mark.process

ANSWER_DEADLINE = 20.0  # seconds an answer that must come may take on a loaded machine
EVENT = json.dumps(
    {"type": "event_message", "call_id": "c-serving", "payload": {"text": "hi"}}
).encode()


ServeFactory = Callable[..., tuple[str, int, Path]]


@pytest.fixture
def serve(tmp_path: Path, token: str) -> Iterator[ServeFactory]:
    """``start(**RECEIVER_settings) -> (token, port, log)``: a ``receiver serve`` subprocess."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**settings: str) -> tuple[str, int, Path]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        log = tmp_path / f"serve-{port}.log"
        env = receiver_env(
            RECEIVER_TOKENS=token,
            RECEIVER_DATABASE_URL=f"sqlite:///{tmp_path / f'r{port}.db'}",
            **{f"RECEIVER_{k.upper()}": v for k, v in settings.items()},
        )
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [RECEIVER, "serve", "--port", str(port)], env=env, stdout=out,
                stderr=subprocess.STDOUT, cwd=tmp_path,
            )  # fmt: skip
        procs.append(proc)
        wait_until_healthy(proc, f"http://127.0.0.1:{port}", log)
        return token, port, log

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


class Conn:
    """One raw TCP connection to the server, read through a buffer (answers may arrive
    together)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(ANSWER_DEADLINE)
        self._reader = self.sock.makefile("rb")

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()
        self.sock.close()

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The next HTTP answer: (status, headers, body)."""
        status_line = self._reader.readline()
        if not status_line:
            raise ConnectionError("closed before an answer")
        headers = {}
        while (line := self._reader.readline()) not in (b"\r\n", b""):
            name, value = line.decode("latin-1").rstrip("\r\n").split(": ", 1)
            headers[name.lower()] = value
        body = self._reader.read(int(headers.get("content-length", 0)))
        return int(status_line.split()[1]), headers, body

    def closed_by_server(self) -> bool:
        """True once the server has closed the connection (EOF or reset)."""
        try:
            return self._reader.read(1) == b""
        except ConnectionResetError:
            return True


def refused(port: int, reason: str) -> float:
    """``receiver_http_refused_total{reason=...}`` from the server's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=ANSWER_DEADLINE).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "receiver_http_refused_total" and sample.labels == {"reason": reason}:
                return sample.value
    raise AssertionError("receiver_http_refused_total is missing")


def post_head(token: str, length: int, extra: str = "") -> bytes:
    return (
        f"POST /webhooks/vocode/{token} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


def test_a_head_past_the_cap_is_refused_431_before_it_ends(serve) -> None:
    """Header bytes past RECEIVER_MAX_HEADER_BYTES get 431 and a close, without the head's end."""
    token, port, _ = serve(max_header_bytes="8192")
    with Conn(port) as sock:
        sock.sendall(f"GET /webhooks/vocode/{token} HTTP/1.1\r\nX-Big: ".encode())
        sock.sendall(b"a" * 9000)  # no CRLF: the head never ends
        status, headers, body = sock.answer()
        assert (status, json.loads(body)["error"]) == (431, "headers_too_large")
        assert headers["connection"] == "close"
        assert sock.closed_by_server()
    assert refused(port, "headers_too_large") == 1


def test_a_pipelined_head_past_the_cap_is_refused(serve) -> None:
    """A second request in the same write as the first, its head past the cap, gets 431."""
    token, port, _ = serve(max_header_bytes="8192")
    big = post_head(token, len(EVENT), "X-Big: " + "b" * 20000 + "\r\n") + EVENT
    with Conn(port) as sock:
        sock.sendall(post_head(token, len(EVENT)) + EVENT + big)
        assert sock.answer()[0] == 202
        assert sock.answer()[0] == 431
        assert sock.closed_by_server()


def test_a_head_under_the_cap_is_served(serve) -> None:
    """A head just under the cap, and many small headers, are served as usual."""
    token, port, _ = serve(max_header_bytes="8192")
    with Conn(port) as sock:
        sock.sendall(post_head(token, len(EVENT), "X-Pad: " + "p" * 7000 + "\r\n") + EVENT)
        assert sock.answer()[0] == 202


def test_an_8_mib_header_is_never_stored(serve, tmp_path) -> None:
    """A header of 8 MiB in one POST is refused (431), and the event is not stored."""
    token, port, _ = serve()
    with Conn(port) as sock:
        # the server may close while the head is still being written
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(post_head(token, len(EVENT), "X-Big: " + "b" * (8 << 20) + "\r\n"))
        status, _, _ = sock.answer()
    assert status == 431
    [db] = tmp_path.glob(f"r{port}.db")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_a_half_sent_head_is_answered_408_and_closed(serve) -> None:
    """A head that stops half-way is answered 408 and closed after the request timeout."""
    token, port, _ = serve(request_timeout_seconds="1")
    with Conn(port) as sock:
        sock.sendall(f"POST /webhooks/vocode/{token} HTTP/1.1\r\nHost: x\r\n".encode())
        status, _, body = sock.answer()
        assert (status, json.loads(body)["error"]) == (408, "timeout")
        assert sock.closed_by_server()


def test_a_later_request_on_a_kept_alive_connection_has_its_own_deadline(serve) -> None:
    """A first request served, then a second that stops half-way: the second gets its 408,
    though the timer armed for the first has long fired."""
    token, port, _ = serve(request_timeout_seconds="1", keep_alive_seconds="30")
    with Conn(port) as sock:
        sock.sendall(post_head(token, len(EVENT)) + EVENT)
        assert sock.answer()[0] == 202
        time.sleep(0.6)  # the second request starts well after the first: its deadline is later
        sock.sendall(f"POST /webhooks/vocode/{token} HTTP/1.1\r\nHost: x\r\n".encode())
        status, _, body = sock.answer()
        assert (status, json.loads(body)["error"]) == (408, "timeout")
        assert sock.closed_by_server()


def test_a_body_shorter_than_its_length_is_answered_408_and_closed(serve, tmp_path) -> None:
    """A body that stops before its Content-Length is answered 408, closed, not stored."""
    token, port, _ = serve(request_timeout_seconds="1")
    with Conn(port) as sock:
        sock.sendall(post_head(token, len(EVENT)) + EVENT[:10])
        status, _, _ = sock.answer()
        assert status == 408
        assert sock.closed_by_server()
    assert refused(port, "timeout") == 1


def test_a_connection_that_never_speaks_is_closed(serve) -> None:
    """A connection that sends nothing is closed after the keep-alive limit."""
    _, port, _ = serve(keep_alive_seconds="0.5")
    with Conn(port) as sock:
        assert sock.closed_by_server()


def test_an_idle_keep_alive_connection_is_closed(serve) -> None:
    """After an answer, a connection idle past the keep-alive limit is closed."""
    token, port, _ = serve(keep_alive_seconds="0.5")
    with Conn(port) as sock:
        sock.sendall(post_head(token, len(EVENT)) + EVENT)
        assert sock.answer()[0] == 202
        assert sock.closed_by_server()


def test_past_the_connection_cap_new_connections_get_503_and_a_log_line(serve) -> None:
    """Past RECEIVER_MAX_CONNECTIONS a new connection is answered 503 and closed, once logged;
    a connection freed makes room again."""
    token, port, log = serve(max_connections="5", request_timeout_seconds="120")
    held = [Conn(port) for _ in range(5)]
    for sock in held:  # each holds its place with a head that never ends
        sock.sendall(b"POST / HTTP/1.1\r\n")
    time.sleep(0.2)  # let the server accept them all; the check below does not depend on it
    try:
        with Conn(port) as extra:
            status, _, body = extra.answer()
            assert (status, json.loads(body)["detail"]) == (503, "too many connections")
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        [line] = [x for x in lines if x["event"] == "connection_limit_reached"]
        assert line["limit"] == 5 and line["level"] == "warning"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + ANSWER_DEADLINE
    while True:  # the server notices the closes in its own time
        with Conn(port) as sock:
            sock.sendall(post_head(token, len(EVENT)) + EVENT)
            try:
                if sock.answer()[0] == 202:
                    break
            except ConnectionError:
                pass
        assert time.monotonic() < deadline, "no room made by closed connections"
        time.sleep(0.05)


def test_after_a_413_the_connection_is_closed_without_reading_the_body(serve) -> None:
    """A declared body past the limit is answered 413 and the connection closed at once."""
    token, port, _ = serve()
    with Conn(port) as sock:
        sock.sendall(post_head(token, 64 << 20))  # 64 MiB announced, nothing sent
        status, headers, _ = sock.answer()
        assert (status, headers["connection"]) == (413, "close")
        assert sock.closed_by_server()


def test_a_streamed_body_past_the_limit_is_answered_413_and_closed(serve) -> None:
    """A chunked body that passes the limit gets 413 and a close, not a read to its end."""
    token, port, _ = serve(max_body_bytes="4096")
    head = (
        f"POST /webhooks/vocode/{token} HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    with Conn(port) as sock:
        sock.sendall(head + b"2000\r\n" + b"x" * 0x2000 + b"\r\n")  # 8 KiB, no last chunk
        status, headers, _ = sock.answer()
        assert (status, headers["connection"]) == (413, "close")
        assert sock.closed_by_server()


def test_bounds_leave_keep_alive_traffic_alone(serve) -> None:
    """Many requests on one kept-alive connection are all served, each within its bounds."""
    token, port, _ = serve(request_timeout_seconds="5", max_header_bytes="4096")
    with Conn(port) as sock:
        for n in range(50):
            body = EVENT.replace(b"c-serving", f"c-{n}".encode())
            sock.sendall(post_head(token, len(body)) + body)
            assert sock.answer()[0] == 202
