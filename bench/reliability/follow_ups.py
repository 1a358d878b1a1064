"""The follow-up fault matrix with kills: calls that did not connect each make a handler ask
for one call back, while the fake Vocode API misbehaves in every way it knows and the
receiver is SIGKILLed again and again. Nobody may be dialled twice, and every intent must end.

Faults, one per create request, in turn: a create slower than the client's timeout and the
reconcile delay together (the issue's case), a call created and its answer never sent, a
call created and the connection reset, a reset before anything is created, 500, 503, 429,
and a normal answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench.reliability.proc import HANDLERS, Receiver
from bench.reliability.wire import KeepAlive, event
from receiver.store.records import FollowUpRecord
from receiver.vocode.fake import FakeVocode, Fault

API_KEY = "reliability-api-key-0123456789"
TIMEOUT = 0.5
FAULTS = [
    Fault.delay(TIMEOUT * 4),
    Fault.commit_then_timeout(hang_seconds=TIMEOUT * 3),
    Fault.commit_then_drop(),
    Fault.reset_before_commit(),
    Fault.answer(500),
    Fault.answer(503),
    Fault.answer(429, retry_after=0),
    Fault(kind="delay"),
]
SETTINGS = {
    "RECEIVER_HANDLERS": HANDLERS,
    "RECEIVER_VOCODE_API_KEY": API_KEY,
    "RECEIVER_VOCODE_TIMEOUT_SECONDS": str(TIMEOUT),
    "RECEIVER_FOLLOW_UP_LEASE_SECONDS": "2",
    "RECEIVER_FOLLOW_UP_RECONCILE_DELAY_SECONDS": "0.3",
    "RECEIVER_FOLLOW_UP_RECONCILE_WINDOW_SECONDS": "4",
    "RECEIVER_FOLLOW_UP_RATE_PER_SECOND": "100",
    "RECEIVER_FOLLOW_UP_CONCURRENCY": "8",
    "RECEIVER_POLL_INTERVAL_SECONDS": "0.1",
    "RECEIVER_RETRY_BASE_SECONDS": "0.05",
    "RECEIVER_RETRY_CAP_SECONDS": "0.5",
    "RECEIVER_LEASE_MARGIN_SECONDS": "2",
}
FINAL = {"created", "held", "rejected", "refused", "cancelled", "suppressed"}


@dataclass
class FollowUpResult:
    events: int
    kills: int
    intents: int
    creates: int  # create requests the fake recorded
    dialled_twice: int  # numbers with more than one call created
    unfinished: int  # intents not in a final state when the run gave up waiting
    outcomes: Counter[str] = field(default_factory=Counter)


async def run_matrix(
    receiver: Receiver, fake: FakeVocode, intents: Callable[[], Awaitable[list[FollowUpRecord]]],
    *, events: int, kills: int, settle_seconds: float = 120.0,
) -> FollowUpResult:  # fmt: skip
    """Post ``events`` calls that did not connect, kill the receiver ``kills`` times while
    their follow-ups go out, then wait for every intent to end."""
    fake.inject(*FAULTS, times=events // len(FAULTS) + 1)
    conn = KeepAlive(receiver.port)
    for n in range(events):
        body = event(f"no-answer-{n}", "event_phone_call_did_not_connect",
                     telephony_status="no-answer")  # fmt: skip
        while True:
            try:
                if (await conn.post(body))[0] in (200, 202):
                    break
            except OSError:
                await asyncio.sleep(0.05)
    await conn.close()
    for _ in range(kills):
        await asyncio.sleep(1.0)
        await asyncio.to_thread(receiver.kill)
        await asyncio.to_thread(receiver.start)
    deadline = time.monotonic() + settle_seconds
    while True:
        records = await intents()
        done = len(records) == events and all(r.status in FINAL for r in records)
        if done or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    numbers = Counter(request.to_number for request in fake.created)
    outcomes = Counter(
        "unresolved" if r.status == "held" and (r.reason or "").startswith("outcome unknown")
        else r.status
        for r in records
    )  # fmt: skip
    return FollowUpResult(
        events=events, kills=kills, intents=len(records), creates=len(fake.created),
        dialled_twice=sum(1 for count in numbers.values() if count > 1),
        unfinished=sum(1 for r in records if r.status not in FINAL) + events - len(records),
        outcomes=outcomes,
    )  # fmt: skip
