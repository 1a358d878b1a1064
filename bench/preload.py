"""Events written straight into a store (no HTTP), for the dispatch and follow-up benchmarks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from receiver.intake.dedup import canonical
from receiver.store.records import NewEvent
from receiver.testing import sample


def fresh_db(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def new_event(n: int, call_id: str, handlers: tuple[str, ...], event_type: str) -> NewEvent:
    """The ``n``-th event; ids sort in ``n`` order (``evt_00000042``)."""
    body = sample(event_type)
    body["call_id"] = call_id
    if event_type == "event_message":
        body["payload"]["text"] = f"message {n}"
    envelope = canonical(body)
    return NewEvent(
        id=f"evt_{n:08d}",
        dedup_key=f"bench:{n}",
        type=event_type,
        call_id=call_id,
        received_at=time.time(),
        method="POST",
        headers="{}",
        envelope=envelope,
        raw=envelope.encode(),
        handlers=handlers,
    )


async def preload(
    store: object,
    events: int,
    calls: int,
    handlers: tuple[str, ...],
    *,
    event_type: str = "event_message",
    chunk: int = 1000,
) -> None:
    """``events`` events spread round-robin over ``calls`` calls, each for ``handlers``."""
    for start in range(0, events, chunk):
        batch = [
            new_event(n, f"call-{n % calls:05d}", handlers, event_type)
            for n in range(start, min(events, start + chunk))
        ]
        await asyncio.gather(*(store.add_event(e) for e in batch))  # type: ignore[attr-defined]
