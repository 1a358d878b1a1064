"""Event → handler-start latency at a steady rate, over HTTP, on the real ``receiver serve`` app.

The app (``receiver.app:app_from_env``: intake and worker in one process, SQLite with
synchronous=FULL, JSON logs at INFO) runs under uvicorn (uvloop, httptools) as a subprocess,
with one ordered handler that appends ``<event id> <time.time()>`` as its first act. This
process posts ``event_message`` events at a steady rate (open loop: each request leaves on
schedule whether or not the previous ones were answered), spread round-robin over a few
calls, and notes ``time.time()`` when each 202 arrives. Same machine, same clock:

- ack → start: the handler's start minus the moment the client had the 202. Negative when
  the handler started before the answer reached the client (the worker is woken by the
  same commit that releases the answer).
- receipt → start: the handler's start minus the event's ``received_at`` (stamped by intake
  before its commit), read from the store afterwards.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.preload import fresh_db
from bench.server import Server
from receiver.testing import sample


@dataclass
class LatencyRun:
    rate: float
    seconds: float
    posted: int
    accepted: int
    started: int  # of the accepted, how many reached the handler
    ack_to_start_ms: dict[str, float]
    receipt_to_start_ms: dict[str, float]
    post_to_ack_ms: dict[str, float]
    negative: int  # handler started before the client had its 202


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)

    def rank(q: float) -> float:  # nearest rank
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"p50": rank(0.50), "p99": rank(0.99), "max": ordered[-1]}


class _Pool:
    """A few keep-alive HTTP/1.1 connections, writing prepared requests and reading answers.

    httpx costs more than a millisecond of CPU per request here, so on a busy machine the
    client itself would fall behind and date its acks late; this costs a few microseconds.
    """

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.size = size
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._all: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> _Pool:
        for _ in range(self.size):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._all.append(writer)
            self._idle.put_nowait((reader, writer))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for writer in self._all:
            writer.close()

    def request(self, body: bytes) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def post(self, request: bytes) -> tuple[int, bytes]:
        reader, writer = await self._idle.get()
        try:
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            return status, await reader.readexactly(length)
        finally:
            self._idle.put_nowait((reader, writer))


async def _post_steadily(
    url: str, rate: float, seconds: float, warmup: float, calls: int
) -> tuple[dict[str, float], list[float], int]:
    """Post for ``warmup + seconds``; answer acks (after warm-up) by id, and post→ack times."""
    body = sample("event_message")
    acks: dict[str, float] = {}
    round_trips: list[float] = []
    total = int((warmup + seconds) * rate)
    counted_from = int(warmup * rate)
    async with _Pool(url, 32) as pool:

        def prepared(n: int) -> bytes:
            event = {**body, "call_id": f"latency-call-{n % calls}"}
            event["payload"] = {**body["payload"], "text": f"latency {n} {secrets.token_hex(4)}"}
            return pool.request(json.dumps(event).encode())

        requests = [prepared(n) for n in range(total)]

        async def send(n: int) -> None:
            sent = time.time()
            status, answer = await pool.post(requests[n])
            acked = time.time()
            if status == 202 and n >= counted_from:
                acks[json.loads(answer)["id"]] = acked
                round_trips.append((acked - sent) * 1000)

        tasks = []
        start = time.monotonic()
        for n in range(total):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(n)))
        await asyncio.gather(*tasks)
    return acks, round_trips, total - counted_from


def _starts(path: Path) -> dict[str, float]:
    starts: dict[str, float] = {}
    for line in path.read_text().splitlines():
        event_id, _, at = line.partition(" ")
        starts.setdefault(event_id, float(at))  # the first attempt's start
    return starts


def _received(db: Path) -> dict[str, float]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT id, received_at FROM events"))
    finally:
        conn.close()


def run_latency(
    work: Path, round_no: int, rate: float, seconds: float, warmup: float, calls: int
) -> LatencyRun:
    token = secrets.token_urlsafe(32)
    db = fresh_db(work / f"dispatch-latency-{round_no}.db")
    starts_file = work / f"dispatch-latency-{round_no}.starts"
    starts_file.unlink(missing_ok=True)
    env = {
        "RECEIVER_TOKENS": token,
        "RECEIVER_DATABASE_URL": f"sqlite:///{db}",
        "RECEIVER_HANDLERS": "bench.latency_handlers:router",
        "RECEIVER_LOG_FORMAT": "json",
        "BENCH_STARTS_FILE": str(starts_file),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                    os.environ.get("PYTHONPATH")])),
    }  # fmt: skip
    server = Server(
        "receiver.app:app_from_env",
        factory=True,
        env=env,
        log=work / f"dispatch-latency-{round_no}.log",
        cpu=None,
    )
    try:
        server.wait_ready()
        url = f"{server.base_url}/webhooks/vocode/{token}"
        acks, round_trips, posted = asyncio.run(_post_steadily(url, rate, seconds, warmup, calls))
        deadline = time.monotonic() + 10  # a bound for the last handlers, not a measurement
        while time.monotonic() < deadline and len(_starts(starts_file).keys() & acks) < len(acks):
            time.sleep(0.05)
    finally:
        server.stop()
    starts, received = _starts(starts_file), _received(db)
    reached = [i for i in acks if i in starts]
    ack_to_start = [(starts[i] - acks[i]) * 1000 for i in reached]
    receipt_to_start = [(starts[i] - received[i]) * 1000 for i in reached if i in received]
    return LatencyRun(
        rate=rate,
        seconds=seconds,
        posted=posted,
        accepted=len(acks),
        started=len(reached),
        ack_to_start_ms=percentiles(ack_to_start),
        receipt_to_start_ms=percentiles(receipt_to_start),
        post_to_ack_ms=percentiles(round_trips),
        negative=sum(1 for v in ack_to_start if v < 0),
    )


def as_row(run: LatencyRun) -> dict[str, Any]:
    return {
        "rate": run.rate,
        "accepted": run.accepted,
        "started": run.started,
        "ack_start_p50": run.ack_to_start_ms["p50"],
        "ack_start_p99": run.ack_to_start_ms["p99"],
        "ack_start_max": run.ack_to_start_ms["max"],
        "receipt_start_p50": run.receipt_to_start_ms["p50"],
        "receipt_start_p99": run.receipt_to_start_ms["p99"],
        "post_ack_p50": run.post_to_ack_ms["p50"],
        "post_ack_p99": run.post_to_ack_ms["p99"],
        "negative": run.negative,
    }
