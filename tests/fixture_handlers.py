"""Handlers used by tests that run real worker processes (imported as ``fixture_handlers``).

Each writes one line per step to the file named by ``FIXTURE_LOG`` so the test can see, from
outside, what ran: ``start <event> <attempt>`` and ``done <event> <attempt>``.
"""

from __future__ import annotations

import asyncio
import os

from receiver import HandlerContext, Router
from receiver.events import Event

router = Router("fx")


def _write(line: str) -> None:
    with open(os.environ["FIXTURE_LOG"], "a") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


@router.on("*", timeout=3, max_attempts=5)
async def slow_first(event: Event, ctx: HandlerContext) -> None:
    """Hangs on its first attempt (long enough to be killed), completes on the next."""
    _write(f"start {ctx.event_id} {ctx.attempt}")
    if ctx.attempt == 1 and os.environ.get("FIXTURE_HANG_FIRST") == "1":
        await asyncio.sleep(float(os.environ.get("FIXTURE_HANG_SECONDS", "60")))
    else:
        await asyncio.sleep(float(os.environ.get("FIXTURE_WORK_SECONDS", "0")))
    _write(f"done {ctx.event_id} {ctx.attempt}")
