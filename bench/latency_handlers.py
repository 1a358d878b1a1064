"""The handler of the latency benchmark: notes when each event reached it.

Loaded by the server under test with ``RECEIVER_HANDLERS=bench.latency_handlers:router``;
each start is appended as ``<event id> <time.time()>`` to the file ``BENCH_STARTS_FILE``
names (line-buffered, so the lines survive however the server stops).
"""

from __future__ import annotations

import os
import time
from typing import Any

from receiver import Router

router = Router("bench")
_out = open(os.environ["BENCH_STARTS_FILE"], "a", buffering=1)  # noqa: SIM115 - process-long


@router.on("event_message")
async def started(event: Any, ctx: Any) -> None:
    now = time.time()  # first: the moment the handler starts
    _out.write(f"{ctx.event_id} {now}\n")
