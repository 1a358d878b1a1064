"""What the HTTP bounds cost per request: uvicorn's httptools protocol against the bounded one
(``receiver.bounded_http``), each fed the same kept-alive requests in-process.

A request is parsed, handed to a minimal ASGI app that reads the body and answers 202, and the
answer written to a transport that keeps nothing: what remains is the protocol's own work
(parsing, the head count, the deadline armed and cancelled, the cycle). Rounds alternate the two
protocols, and each ratio compares the two of one round; times are this process's CPU time,
which other processes on a busy machine do not add to.

    python -m bench bounds [--requests 20000 --rounds 7]
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import click
import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from receiver.bounded_http import Bounds, bounded_protocol

BODY = b'{"type":"event_message","call_id":"c-1","payload":{"sender":"human","text":"hi"}}'
REQUEST = (
    b"POST /webhooks/vocode/token-0123456789abcdef HTTP/1.1\r\nHost: receiver\r\n"
    b"User-Agent: vocode\r\nAccept: */*\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 202,
                "headers": [(b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"{}"})


class Sink:
    """A transport that keeps nothing and is never closed."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += 1

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None: ...

    def set_protocol(self, protocol: Any) -> None: ...


async def _run(protocol_class: type[HttpToolsProtocol], requests: int) -> float:
    """CPU seconds per request for ``requests`` requests, one at a time on one connection."""
    config = Config(app, log_config=None, access_log=False)
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    sink = Sink()
    protocol.connection_made(sink)  # type: ignore[arg-type]
    started = time.process_time()  # CPU time of this process: other processes do not count
    for n in range(requests):
        protocol.data_received(REQUEST)
        while sink.written < 2 * (n + 1):  # the answer's head and body
            await asyncio.sleep(0)
    seconds = time.process_time() - started
    protocol.connection_lost(None)
    return seconds / requests


@click.command()
@click.option("--requests", default=20_000, show_default=True, help="Requests per run.")
@click.option("--rounds", default=7, show_default=True, help="Rounds (each runs both).")
def main(requests: int, rounds: int) -> None:
    """The per-request cost of the HTTP bounds, against plain httptools."""
    bounded = bounded_protocol(Bounds(max_header_bytes=65536, request_timeout=10.0,
                                      max_connections=1000))  # fmt: skip
    plain_us, bounded_us, ratios = [], [], []
    for round_no in range(1, rounds + 1):
        order = [(HttpToolsProtocol, plain_us), (bounded, bounded_us)]
        if round_no % 2 == 0:
            order.reverse()  # neither always runs first
        for protocol_class, into in order:
            into.append(uvloop.run(_run(protocol_class, requests)) * 1e6)
        ratios.append(bounded_us[-1] / plain_us[-1])
        click.echo(
            f"round {round_no}: plain {plain_us[-1]:.2f} µs, bounded {bounded_us[-1]:.2f} µs, "
            f"ratio {ratios[-1]:.3f}"
        )
    click.echo(
        f"median: plain {statistics.median(plain_us):.2f} µs/request, bounded "
        f"{statistics.median(bounded_us):.2f} µs/request, ratio {statistics.median(ratios):.3f} "
        f"(rounds {min(ratios):.3f} to {max(ratios):.3f}); fastest run: plain "
        f"{min(plain_us):.2f} µs, bounded {min(bounded_us):.2f} µs"
    )
