"""Header and slow-connection attacks on a real receiver, while legitimate clients keep
posting events on connections of their own: the receiver's memory and the legitimate
requests' p99 and failures, quiet and under each attack.

- headers: attackers stream request heads of up to 256 MiB (the issue's one 128 MiB header
  stalled every webhook for 20 s);
- slow: hundreds of connections send half a head, or a body shorter than its length, and
  trickle a byte a second;
- flood: more idle connections than ``RECEIVER_MAX_CONNECTIONS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench.reliability.proc import Receiver
from bench.reliability.wire import HOOK, KeepAlive, event, percentile, post

MAX_CONNECTIONS = 400  # the attacked receiver's cap: the flood opens more


@dataclass
class Phase:
    name: str
    requests: int = 0
    failures: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    rss_peak_mib: float = 0.0
    attack: dict[str, int] = field(default_factory=dict)


async def _legit(port: int, stop: asyncio.Event, phase: Phase, clients: int = 4) -> None:
    latencies: list[float] = []
    numbers = itertools.count()

    async def client(n: int) -> None:
        conn = KeepAlive(port)
        while not stop.is_set():
            try:
                body = event(f"legit-{phase.name}-{n}-{next(numbers)}")
                status, _, seconds = await conn.post(body)
            except OSError:
                phase.failures += 1
                await asyncio.sleep(0.05)
                continue
            latencies.append(seconds)
            phase.failures += status != 202
        await conn.close()

    try:
        await asyncio.gather(*(client(n) for n in range(clients)))
    finally:  # also when cancelled: a server that stalls must not hide what was measured
        phase.requests = len(latencies)
        phase.p50_ms = percentile(latencies, 0.50) * 1000
        phase.p99_ms = percentile(latencies, 0.99) * 1000


async def _headers(port: int, stop: asyncio.Event, counts: Counter[str]) -> None:
    """Heads of up to 256 MiB, one after the other: what answers each got."""
    chunk = b"b" * (1 << 20)
    while not stop.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        with contextlib.suppress(ConnectionError):
            writer.write(f"POST {HOOK} HTTP/1.1\r\nHost: r\r\nX-Big: ".encode())
            for _ in range(256):  # up to 256 MiB, or until the server closes
                if stop.is_set():
                    break
                writer.write(chunk)
                await writer.drain()
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            counts[line.split(b" ")[1].decode() if line else "closed"] += 1
        except (ConnectionError, TimeoutError):
            counts["reset"] += 1  # closed with the attacker's bytes unread: the 431 is lost
            # (or, with no bound, never answered within the wait)
        writer.close()


async def _slow(port: int, stop: asyncio.Event, counts: Counter[str], n: int) -> None:
    async def one(half_head: bool) -> None:
        while not stop.is_set():
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            start = f"POST {HOOK} HTTP/1.1\r\nHost: r\r\n".encode()
            writer.write(start if half_head else post(b'{"type"', length=1000))
            try:
                while not stop.is_set() and not reader.at_eof():
                    writer.write(b"X" if half_head else b" ")
                    await writer.drain()
                    with contextlib.suppress(TimeoutError):
                        line = await asyncio.wait_for(reader.readline(), 1.0)
                        if line:
                            counts[line.split(b" ")[1].decode()] += 1
                            break
            except ConnectionError:
                counts["reset"] += 1
            writer.close()

    await asyncio.gather(*(one(i % 2 == 0) for i in range(n)))


async def _flood(port: int, stop: asyncio.Event, counts: Counter[str], n: int) -> None:
    opened = []
    for _ in range(n):
        with contextlib.suppress(OSError):
            opened.append(await asyncio.open_connection("127.0.0.1", port))
    await asyncio.sleep(0.5)
    for reader, _ in opened:
        with contextlib.suppress(Exception):
            line = await asyncio.wait_for(reader.readline(), 0.01)
            counts[line.split(b" ")[1].decode() if line else "closed (idle)"] += 1
    await stop.wait()
    for _, writer in opened:
        writer.close()


Attack = Callable[[int, asyncio.Event, Counter[str]], Awaitable[None]] | None


async def run_phase(receiver: Receiver, name: str, seconds: float, attack: Attack) -> Phase:
    """Legitimate load for ``seconds``, under ``attack`` if any; memory sampled meanwhile."""
    phase, stop, counts = Phase(name), asyncio.Event(), Counter[str]()
    tasks = [asyncio.create_task(_legit(receiver.port, stop, phase))]
    if attack is not None:
        tasks.append(asyncio.create_task(attack(receiver.port, stop, counts)))
    for _ in range(int(seconds / 0.1)):
        phase.rss_peak_mib = max(phase.rss_peak_mib, receiver.rss_mib())
        await asyncio.sleep(0.1)
    stop.set()
    _, stuck = await asyncio.wait(tasks, timeout=30)
    for task in stuck:  # a stalled server: what it could not answer was counted as failed
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    phase.attack = dict(counts)
    return phase


async def run_attacks(receiver: Receiver, seconds: float, slow: int) -> list[Phase]:
    """Quiet, then each attack in turn, ``seconds`` each (the slow one twice as long)."""

    async def headers(port: int, stop: asyncio.Event, counts: Counter[str]) -> None:
        await asyncio.gather(*(_headers(port, stop, counts) for _ in range(2)))

    return [
        await run_phase(receiver, "quiet", seconds, None),
        await run_phase(receiver, "headers", seconds, headers),
        await run_phase(
            receiver, "slow", seconds * 2, lambda p, s, c: _slow(p, s, c, slow)
        ),
        await run_phase(
            receiver, "flood", seconds, lambda p, s, c: _flood(p, s, c, MAX_CONNECTIONS + 200)
        ),
    ]
