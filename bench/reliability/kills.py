"""SIGKILL under load: clients post new events without pause while the receiver is killed
and restarted again and again. A client that gets no answer sends the same event again, as
Vocode would. At the end every event answered 2xx must be stored, and none stored twice.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from bench.reliability.proc import Receiver
from bench.reliability.wire import KeepAlive, event


@dataclass
class KillResult:
    kills: int
    acknowledged: int  # distinct events answered 202 or 200 (duplicate)
    stored: int
    lost: int  # acknowledged, not stored
    stored_twice: int  # calls with more than one stored event (each event has its own call)


async def load_while_killing(
    receiver: Receiver, *, kills: int, interval: float, clients: int = 8
) -> tuple[dict[str, str], int]:
    """Post until the kills are done; answer {call id: event id acknowledged} and the kills."""
    acknowledged: dict[str, str] = {}
    numbers = itertools.count()
    stopping = asyncio.Event()

    async def client(n: int) -> None:
        conn = KeepAlive(receiver.port)
        while not stopping.is_set():
            call_id = f"kill-{n}-{next(numbers)}"
            body = event(call_id, text="still here")
            while True:  # the same event until it is answered
                try:
                    status, answer, _ = await conn.post(body, timeout=10)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                if status in (200, 202):
                    acknowledged[call_id] = answer["id"]
                    break
                await asyncio.sleep(0.02)  # 503: retry later, like Vocode
        await conn.close()

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    done = 0
    try:
        for _ in range(kills):
            await asyncio.sleep(interval)
            await asyncio.to_thread(receiver.kill)
            done += 1
            await asyncio.to_thread(receiver.start)
        await asyncio.sleep(interval)
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return acknowledged, done


def tally(acknowledged: dict[str, str], stored: list[tuple[str, str]], kills: int) -> KillResult:
    """``stored``: (call id, event id) of every stored event."""
    ids = {event_id for _, event_id in stored}
    calls: dict[str, int] = {}
    for call_id, _ in stored:
        calls[call_id] = calls.get(call_id, 0) + 1
    return KillResult(
        kills=kills,
        acknowledged=len(acknowledged),
        stored=len(stored),
        lost=sum(1 for event_id in acknowledged.values() if event_id not in ids),
        stored_twice=sum(1 for count in calls.values() if count > 1),
    )
